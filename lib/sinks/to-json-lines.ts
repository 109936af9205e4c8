import { once } from 'node:events'
import { createWriteStream } from 'node:fs'
import { mkdir, stat, truncate } from 'node:fs/promises'
import path from 'node:path'
import type { Writable } from 'node:stream'
import { HydratorError, errorMessage } from '../errors.js'
import type { Sink } from '../types.js'
import { defineSink, type SinkOptions } from './define-sink.js'

export interface ToJsonLinesOptions extends SinkOptions {
  /** Append to an existing file instead of replacing it. @default false */
  readonly append?: boolean
  /**
   * Resume: cut the file to this many bytes (what a checkpoint recorded as handled), then append.
   * Lines written after the checkpoint by a run that crashed are so never written twice.
   */
  readonly truncateTo?: number
  /** Write here instead of `process.stdout` for `-`. */
  readonly stdout?: Writable
  /** Resolve a relative path here. @default process.cwd() */
  readonly cwd?: string
}

/**
 * Writes events as NDJSON, one per line, in order, to a file or to stdout (`-`): the default sink,
 * for previews and for piping into other tools. Waits for the stream to drain, so memory stays flat.
 *
 * @example
 * const result = await pipe(readJsonLines('in.ndjson'), filter(rule), toJsonLines('out.ndjson'))
 */
export function toJsonLines<T = unknown>(target: string, options: ToJsonLinesOptions = {}): Sink<T> {
  if (typeof target !== 'string' || target === '') {
    throw new HydratorError('ERR_INVALID_OPTION', `expected a file path or \`-\`, got \`${String(target)}\``)
  }
  const file = target === '-' ? undefined : path.resolve(options.cwd ?? process.cwd(), target)
  let out: Writable | undefined
  let failedToOpen: unknown
  let bytes = 0

  const sink = defineSink<T, string>(
    {
      uri: target === '-' ? 'ndjson:-' : `ndjson:${target}`,
      async open({ dryRun }) {
        if (dryRun) return
        if (!file) {
          out = options.stdout ?? process.stdout
          return
        }
        try {
          await mkdir(path.dirname(file), { recursive: true })
        } catch (error) {
          throw new HydratorError('ERR_FILE_NOT_FOUND', `cannot create the folder of \`${target}\`: ${errorMessage(error)}`)
        }
        let append = options.append ?? false
        if (options.truncateTo !== undefined) {
          const size = await stat(file).then((s) => s.size, () => -1)
          if (size < options.truncateTo) {
            throw new HydratorError('ERR_CHECKPOINT_MISMATCH', `cannot resume \`${target}\`: it holds ${Math.max(size, 0)} bytes, the checkpoint recorded ${options.truncateTo}`)
          }
          await truncate(file, options.truncateTo)
          append = true
          bytes = options.truncateTo
        }
        const stream = createWriteStream(file, { flags: append ? 'a' : 'w', highWaterMark: 1 << 20 })
        stream.on('error', (error) => {
          failedToOpen ??= error
        })
        await once(stream, 'open').catch((error) => {
          throw new HydratorError('ERR_FILE_NOT_FOUND', `cannot write \`${target}\`: ${errorMessage(error)}`)
        })
        out = stream
      },
      prepare: (event) => JSON.stringify(event),
      preview: (line) => JSON.parse(line) as unknown,
      async write(lines) {
        if (failedToOpen) throw failedToOpen
        const text = lines.join('\n') + '\n'
        // Settle only once the data is handed to the OS, so a checkpoint never runs ahead of the file.
        await new Promise<void>((resolve, reject) => out!.write(text, (error) => (error ? reject(error) : resolve())))
        bytes += Buffer.byteLength(text)
        return lines.map(() => ({ status: 'written' as const }))
      },
      async close() {
        if (out && out !== process.stdout && out !== options.stdout) {
          const stream = out
          out = undefined
          await new Promise<void>((resolve, reject) => stream.end((error?: Error | null) => (error ? reject(error) : resolve())))
        }
      },
    },
    { batchSize: 1000, ...options },
  )
  // What a checkpoint records of this sink: the bytes of the lines fully written.
  return Object.assign(sink, { checkpointState: () => ({ bytes }) })
}
