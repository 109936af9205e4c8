import { createReadStream } from 'node:fs'
import { jsonKindOf } from '../util/event-value.js'
import { createGunzip } from 'node:zlib'
import { JSONParser } from '@streamparser/json'
import { HydratorError, errorMessage } from '../errors.js'
import { setPosition, type ElementPosition } from '../position.js'
import { setRawText } from '../raw-text.js'
import type { SourceOptions } from '../types.js'
import { displayPath, resolveFiles, totalSize } from './files.js'
import { assertInteger } from '../util/options.js'
import { defineSource, type SourceControl, type StatefulSource } from '../define-source.js'
import { ArrayBatcher, ArrayScanError } from './array-scan.js'
import { LineWorkerError, readLinesInWorker, worthAWorker } from './line-worker.js'
import { LINE, type LineBatch, META, newBatch, TOO_LONG } from '../util/line-scan.js'

export interface ReadJsonArrayOptions extends SourceOptions {
  /** A larger element is a failure (ERR_LINE_TOO_LONG) and is skipped (top-level arrays). @default 67108864 (64 MiB) */
  readonly maxElementBytes?: number
  /** A dotted property path to the array inside the top-level object, e.g. `events` or `data.items`. */
  readonly path?: string
  /**
   * Split a top-level array into elements on a worker thread while the main thread parses them:
   * `true` always, `false` never; by default for files of 8 MiB or more (2 MiB gzipped). The
   * report's `source.workerThreads` says when it was on.
   */
  readonly workers?: boolean
  /** @internal Bytes read at a time (tests put elements across chunk boundaries with small reads). */
  readonly readBytes?: number
  /** Skip this many elements (resume): they are parsed but not yielded again. @default 0 */
  readonly startIndex?: number
  /** Resolve relative paths here. @default process.cwd() */
  readonly cwd?: string
}

/**
 * Reads a file that holds one JSON array of events (or an array under a property, `path`) as a
 * stream: elements are yielded one by one as they are parsed, so a 2 GB file never needs 2 GB of
 * memory. A top-level array is split into elements at the byte level and each is parsed with
 * JSON.parse (about NDJSON's speed); an array under `path` goes through a streaming parser. An
 * element that is not an object, is not valid UTF-8 or is too long is a failure naming the file
 * and index; a syntax error stops the read with ERR_SOURCE_READ (element index and byte offset)
 * after every element before it was yielded.
 *
 * @example
 * for await (const event of readJsonArray('export.json', { path: 'events' })) ...
 */
export function readJsonArray(file: string, options: ReadJsonArrayOptions = {}): StatefulSource<Record<string, unknown>> {
  if (typeof file !== 'string' || file === '') {
    throw new HydratorError('ERR_INVALID_OPTION', `expected a file path, got \`${String(file)}\``)
  }
  const property = options.path?.trim()
  if (property !== undefined && !/^[^.*[\]]+(\.[^.*[\]]+)*$/.test(property)) {
    throw new HydratorError('ERR_INVALID_OPTION', `expected \`path\` to be a dotted property path such as \`events\`, got \`${property}\``)
  }
  const startIndex = assertInteger('startIndex', options.startIndex ?? 0, 0)
  const cwd = options.cwd ?? process.cwd()
  const jsonPath = property ? `$.${property}.*` : '$.*'
  const maxElementBytes = assertInteger('maxElementBytes', options.maxElementBytes ?? 64 * 1024 * 1024, 1)

  // Asked by run() (see SourceCapabilities.useRawText): each element keeps the JSON text it was read as.
  const text = { keep: false, started: false }
  const source = defineSource<Record<string, unknown>>(file, options, async function* readJsonArraySource({ stats, fail, signal }) {
    text.started = true
    const entries = await resolveFiles(file, '*.json', cwd)
    const entry = entries.find((e) => e.problem === undefined && e.duplicateOf === undefined) ?? entries[0]!
    const full = entry.file
    const name = displayPath(full, cwd)
    if (entry.problem !== undefined) throw new HydratorError('ERR_FILE_NOT_FOUND', `cannot read \`${name}\`: ${entry.problem}`)
    stats.bytesTotal = await totalSize([entry])
    if (startIndex > 0) stats.startedAt = { kind: 'element', source: file, file: name, index: startIndex }
    if (!property) {
      yield* scanArray(full, { file, name, startIndex, maxElementBytes, stats, fail, signal, keepText: text.keep, workers: options.workers, readBytes: options.readBytes })
      return
    }
    const queue: unknown[] = []
    let index = 0
    let parseError: unknown
    let sawArray = false
    const parser = new JSONParser({ paths: [jsonPath], keepStack: false, stringBufferSize: 64 * 1024 })
    parser.onValue = ({ value, key }) => {
      if (typeof key === 'number') {
        sawArray = true
        queue.push(value)
      }
    }
    parser.onError = (error) => {
      parseError ??= error
    }
    const raw = createReadStream(full, { highWaterMark: 1 << 20 })
    raw.on('data', (chunk) => {
      stats.bytesRead += chunk.length
    })
    const input = /\.gz$/i.test(full) ? raw.pipe(createGunzip()) : raw
    try {
      for await (const chunk of input as AsyncIterable<Buffer>) {
        if (!parseError) {
          try {
            parser.write(chunk)
          } catch (error) {
            parseError ??= error
          }
        }
        for (let i = 0; i < queue.length; i++) {
          const value = queue[i]
          const position: ElementPosition = { kind: 'element', source: file, file: name, index }
          index++
          if (index <= startIndex) continue
          if (value === null || typeof value !== 'object' || Array.isArray(value)) {
            fail({ position, code: 'ERR_NOT_AN_OBJECT', message: `${name}[${index - 1}]: expected an event object, got ${jsonKindOf(value)}` })
            continue
          }
          stats.read++
          yield setPosition(value as Record<string, unknown>, position)
        }
        queue.length = 0
        if (parseError) {
          throw new HydratorError('ERR_SOURCE_READ', `${name}: not a valid JSON array after element ${index - 1}: ${errorMessage(parseError)}`, { cause: parseError })
        }
        if (signal?.aborted) return
      }
      if (!parser.isEnded) {
        try {
          parser.end()
        } catch (error) {
          parseError ??= error
        }
      }
      if (parseError) {
        throw new HydratorError('ERR_SOURCE_READ', `${name}: the JSON ends early or is malformed after element ${index - 1}: ${errorMessage(parseError)}`, { cause: parseError })
      }
      if (!sawArray && index === 0) {
        // An empty array is fine; a top-level value that is not an array (at `path`) is not.
        const { readFile } = await import('node:fs/promises')
        if (stats.bytesTotal! < 1 << 20) {
          const text = (await readFile(full, 'utf8')).trim()
          let empty = false
          try {
            const parsed = JSON.parse(text) as unknown
            const target = property ? property.split('.').reduce<unknown>((v, k) => (v as Record<string, unknown> | undefined)?.[k], parsed) : parsed
            empty = Array.isArray(target) && target.length === 0
          } catch {
            empty = false
          }
          if (!empty) {
            throw new HydratorError('ERR_SOURCE_READ', `${name}: expected a JSON array${property ? ` at \`${property}\`` : ''}, found none`)
          }
        }
      }
    } catch (error) {
      if (error instanceof HydratorError) throw error
      throw new HydratorError('ERR_SOURCE_READ', `${name}: reading stopped after element ${index - 1}: ${errorMessage(error)}`, { cause: error })
    } finally {
      raw.destroy()
    }
  })
  // Only the top-level array keeps texts (an array under `path` goes through the streaming parser).
  source.useRawText = () => {
    if (text.started || property) return false
    text.keep = true
    return true
  }
  return source
}

/** A top-level array, split by {@link ArrayScanner} (here or on a worker thread) and parsed element by element. */
async function* scanArray(
  full: string,
  o: { file: string; name: string; startIndex: number; maxElementBytes: number; keepText: boolean; workers: boolean | undefined; readBytes: number | undefined } & Pick<SourceControl, 'stats' | 'fail' | 'signal'>,
): AsyncGenerator<Record<string, unknown>, void, undefined> {
  const { file, name, startIndex, stats, fail, signal } = o
  const gz = /\.gz$/i.test(full)
  // Splitting an array is work in JavaScript on every byte: moved off the main thread, it pays.
  const inWorker = worthAWorker(o.workers, full, gz, true)
  if (inWorker) stats.workerThreads = 1
  const batches = inWorker ? readLinesInWorker({ kind: 'array', file: full, gz, maxElementBytes: o.maxElementBytes, startIndex, ...(o.readBytes ? { chunkBytes: o.readBytes } : {}) }, signal) : scanHere()
  let index = 0 // elements handled so far
  async function* scanHere(): AsyncGenerator<{ batch: LineBatch; bytesRead: number }> {
    const batcher = new ArrayBatcher(o.maxElementBytes, startIndex)
    const raw = createReadStream(full, { highWaterMark: o.readBytes ?? 1 << 20 })
    let bytesRead = 0
    raw.on('data', (chunk) => {
      bytesRead += chunk.length
    })
    const input = gz ? raw.pipe(createGunzip()) : raw
    if (input !== raw) raw.on('error', (error) => input.destroy(error))
    try {
      for await (const chunk of input as AsyncIterable<Buffer>) {
        let batch: LineBatch
        try {
          batch = batcher.push(chunk)
        } catch (error) {
          throw new LineWorkerError(errorMessage(error), batcher.index, error instanceof ArrayScanError ? error.offset : undefined)
        }
        yield { batch, bytesRead }
        bytesRead = 0
      }
      try {
        batcher.end()
      } catch (error) {
        throw new LineWorkerError(errorMessage(error), batcher.index, error instanceof ArrayScanError ? error.offset : undefined)
      }
      // The bytes read since the last chunk came out of gunzip.
      yield { batch: newBatch(), bytesRead }
    } finally {
      raw.destroy()
    }
  }
  try {
    for await (const { batch, bytesRead } of batches) {
      stats.bytesRead += bytesRead
      const { meta, texts } = batch
      let t = 0
      for (let m = 0; m < meta.length; m += META) {
        const kind = meta[m]!
        const i = meta[m + 1]!
        const offset = meta[m + 2]!
        index = i + 1
        const position: ElementPosition = { kind: 'element', source: file, file: name, index: i }
        if (kind === TOO_LONG) {
          fail({ position, code: 'ERR_LINE_TOO_LONG', message: `${name}[${i}]: the element is larger than maxElementBytes (${o.maxElementBytes} bytes)` })
          continue
        }
        if (kind !== LINE) {
          fail({ position, code: 'ERR_INVALID_UTF8', message: `${name}[${i}]: not valid UTF-8 (at byte ${offset})` })
          continue
        }
        const json = texts[t++]!
        let value: unknown
        try {
          value = JSON.parse(json)
        } catch (error) {
          throw new HydratorError('ERR_SOURCE_READ', `${name}: element ${i} (at byte ${offset}) is not valid JSON: ${errorMessage(error)}`, { cause: error })
        }
        if (value === null || typeof value !== 'object' || Array.isArray(value)) {
          fail({ position, code: 'ERR_NOT_AN_OBJECT', message: `${name}[${i}]: expected an event object, got ${jsonKindOf(value)}` })
          continue
        }
        stats.read++
        // A pretty-printed element spans lines: only a one-line text can be written as an NDJSON line.
        if (o.keepText && meta[m + 3] === 1) setRawText(value, json.trim())
        yield setPosition(value as Record<string, unknown>, position)
      }
      if (signal?.aborted) return
    }
  } catch (error) {
    if (error instanceof HydratorError) throw error
    // Elements seen: by the scanner (it may have gone past the last one handled), else handled.
    const seen = error instanceof LineWorkerError ? Math.max(error.line, index) : index
    if (error instanceof LineWorkerError && error.scanOffset !== undefined) {
      throw new HydratorError('ERR_SOURCE_READ', `${name}: not a valid JSON array at byte ${error.scanOffset}, after element ${seen - 1}: ${error.message}`, { cause: error })
    }
    throw new HydratorError('ERR_SOURCE_READ', `${name}: reading stopped after element ${seen - 1}: ${errorMessage(error)}`, { cause: error })
  }
}
