import { once } from 'node:events'
import { createWriteStream } from 'node:fs'
import { mkdir, stat, truncate } from 'node:fs/promises'
import path from 'node:path'
import type { Writable } from 'node:stream'
import { serializeEvent } from '../util/serialize.js'
import { rawTextOf, TextEvent } from '../raw-text.js'
import { HydratorError, errorMessage } from '../errors.js'
import type { Sink } from '../types.js'
import { defineSink, type SinkOptions, type WriteOutcome, withSinkInfo } from '../define-sink.js'

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

/** A line to write: its text, or an event that is its bytes. */
type Line = string | TextEvent

const NEWLINE = 0x0a

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
  // The first write error (a full disk): every later write fails with it, and the file is cut back
  // to `bytes` at close so no torn line is left behind.
  let broken: HydratorError | undefined
  let bytes = 0
  const outputError = (error: unknown) =>
    (broken ??= new HydratorError('ERR_OUTPUT', `cannot write \`${target}\`: ${errorMessage(error)}`, { cause: error }))

  // stdout (`| head`): one write per line, so when the reader goes away the report says exactly
  // which lines the pipe took; the rest fail with ERR_OUTPUT and the run stops.
  const writeEach = async (stream: Writable, given: readonly Line[]): Promise<WriteOutcome[]> => {
    const lines = given.map((line) => (typeof line === 'string' ? line : line.text))
    const done = await Promise.allSettled(lines.map((line) => new Promise<void>((resolve, reject) => stream.write(line + '\n', (error) => (error ? reject(error) : resolve())))))
    const outcomes: WriteOutcome[] = []
    for (let i = 0; i < lines.length; i++) {
      const settled = done[i]!
      if (settled.status === 'fulfilled' && !broken) {
        bytes += Buffer.byteLength(lines[i]!) + 1
        outcomes.push({ status: 'written', state: { bytes } })
      } else {
        const error = outputError(settled.status === 'rejected' ? settled.reason : broken)
        outcomes.push({ status: 'failed', code: error.code, message: error.message })
      }
    }
    return outcomes
  }

  const sink = defineSink<T, Line>(
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
        if (!append) bytes = 0
        else if (options.truncateTo === undefined) bytes = await stat(file).then((s) => s.size, () => 0)
        stream.on('error', outputError)
        await once(stream, 'open').catch((error) => {
          throw new HydratorError('ERR_FILE_NOT_FOUND', `cannot write \`${target}\`: ${errorMessage(error)}`)
        })
        out = stream
      },
      // An event that reached here unchanged from a JSON source that kept its text is written as
      // read; one that is its text alone (TextEvent) as its very bytes.
      prepare: (event) => (event instanceof TextEvent ? event : (rawTextOf(event) ?? serializeEvent(event))),
      preview: (line) => JSON.parse(typeof line === 'string' ? line : line.text) as unknown,
      async write(lines) {
        if (broken) throw broken
        if (!file) return writeEach(out!, lines)
        // Each event's resume state is the file's length just after its line.
        const outcomes = new Array<{ status: 'written'; state: { bytes: number } }>(lines.length)
        let size = 0
        for (let i = 0; i < lines.length; i++) {
          const line = lines[i]!
          size += (typeof line === 'string' ? Buffer.byteLength(line) : line.end - line.start) + 1
          outcomes[i] = { status: 'written', state: { bytes: bytes + size } }
        }
        const text = Buffer.allocUnsafe(size)
        let at = 0
        for (const line of lines) {
          if (typeof line === 'string') at += text.write(line, at)
          else at += line.buffer.copy(text, at, line.start, line.end)
          text[at++] = NEWLINE
        }
        // Settle only once the data is handed to the OS, so a checkpoint never runs ahead of the file.
        await new Promise<void>((resolve, reject) => out!.write(text, (error) => (error ? reject(outputError(error)) : resolve())))
        bytes += size
        return outcomes
      },
      async close() {
        if (out && out !== process.stdout && out !== options.stdout) {
          const stream = out
          out = undefined
          if (!broken) {
            await new Promise<void>((resolve) => stream.end(() => resolve()))
            if (!broken) return
          }
          stream.destroy()
          // Cut the file back to its last whole line (a full disk leaves half a batch behind).
          if (file) await truncate(file, bytes).catch(() => {})
        }
      },
    },
    { batchSize: 1000, ...options },
  )
  return withSinkInfo(sink, { writesRawText: true, textOnly: true })
}
