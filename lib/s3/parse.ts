// The events of one S3 object, from its bytes: NDJSON lines (gzip or not), one JSON array, or one
// event per object. Failures (a line that is not JSON, not an object, too long, not UTF-8) are
// reported and reading goes on; a body that breaks off stops the read with ERR_SOURCE_READ.
import { isUtf8 } from 'node:buffer'
import { Readable } from 'node:stream'
import { createGunzip } from 'node:zlib'
import { JSONParser } from '@streamparser/json'
import { unwrapDeadLetter } from '../dead-letter.js'
import { HydratorError, errorMessage } from '../errors.js'
import { setPosition, type S3Position } from '../position.js'
import type { ItemFailure } from '../types.js'
import { isEventObject, jsonKindOf } from '../util/event-value.js'
import { entriesOf, INVALID_UTF8, type LineEntry, LineScanner, TOO_LONG } from '../util/line-scan.js'

/** How an object's bytes hold events: NDJSON lines, one JSON array, or the whole object is one event. */
export type S3Format = 'lines' | 'array' | 'files'

/** The format an object's name says: `.ndjson`, `.jsonl`, `.gz` lines; `.json` an array; anything else (`.event`) one event. */
export function formatOf(key: string, forced?: S3Format): S3Format {
  if (forced) return forced
  if (/\.(ndjson|jsonl)(\.gz)?$|\.gz$/i.test(key)) return 'lines'
  if (/\.json$/i.test(key)) return 'array'
  return 'files'
}

/** Where to start inside an object: after a line (by byte offset) or after an element. */
export type InsideStart = { readonly offset: number; readonly line: number } | { readonly index: number }

/** @internal One object to read. */
export interface ObjectBytes {
  readonly uri: string
  readonly key: string
  readonly format: S3Format
  /** The raw bytes, in order (already from `start.offset` when `ranged`). */
  readonly chunks: AsyncIterable<Buffer> | Iterable<Buffer>
  readonly start?: InsideStart
  /** The chunks begin at `start.offset` (a ranged GET of an object that is not gzip). */
  readonly ranged: boolean
  readonly maxLineBytes: number
}

type Fail = (failure: Omit<ItemFailure, 'stage'>) => void
type Event = Record<string, unknown>


/** The events of one object, each with its {@link S3Position}. */
export async function* eventsOf(object: ObjectBytes, fail: Fail): AsyncGenerator<Event, void, undefined> {
  const gz = /\.gz$/i.test(object.key)
  let input: AsyncIterable<Buffer> | Iterable<Buffer> = object.chunks
  let raw: Readable | undefined
  let gunzip: ReturnType<typeof createGunzip> | undefined
  if (gz) {
    raw = Readable.from(object.chunks)
    gunzip = createGunzip()
    raw.on('error', (error) => gunzip!.destroy(error))
    input = raw.pipe(gunzip)
  }
  let where = ''
  try {
    if (object.format === 'lines') yield* lines(object, input, fail, (w) => (where = w))
    else if (object.format === 'array') yield* elements(object, input, fail, (w) => (where = w))
    else yield* whole(object, input, fail)
  } catch (error) {
    if (error instanceof HydratorError) throw error
    throw new HydratorError('ERR_SOURCE_READ', `${object.key}: reading stopped${where}: ${errorMessage(error)}${gz ? ' (is the gzip object truncated?)' : ''}`, { cause: error })
  } finally {
    gunzip?.destroy()
    raw?.destroy()
  }
}

async function* lines(object: ObjectBytes, input: AsyncIterable<Buffer> | Iterable<Buffer>, fail: Fail, at: (where: string) => void): AsyncGenerator<Event> {
  const { uri, key, maxLineBytes } = object
  const start = object.start && 'offset' in object.start ? object.start : undefined
  // gzip objects cannot be read from an offset (no ranged GET): the bytes before it are dropped.
  const scanner = new LineScanner({ maxLineBytes, offset: start?.offset ?? 0, line: start?.line ?? 0, skip: start && !object.ranged ? start.offset : 0 })
  const position = (line: number, lineOffset: number, next: number): S3Position => ({ kind: 's3', source: uri, key, line, offset: lineOffset, next })
  const eventOf = (entry: LineEntry): Event | undefined => {
    const { line, offset, next } = entry
    at(` after line ${line - 1}`)
    if (entry.kind === TOO_LONG) {
      fail({ position: position(line, offset, next), code: 'ERR_LINE_TOO_LONG', message: `${key}:${line}: the line is longer than maxLineBytes (${maxLineBytes} bytes)` })
      return undefined
    }
    if (entry.kind === INVALID_UTF8) {
      fail({ position: position(line, offset, next), code: 'ERR_INVALID_UTF8', message: `${key}:${line}: the line is not valid UTF-8` })
      return undefined
    }
    const text = entry.text!
    let value: unknown
    try {
      value = JSON.parse(text)
    } catch (error) {
      if (text.trim() === '') return undefined
      fail({ position: position(line, offset, next), code: 'ERR_INVALID_JSON', message: `${key}:${line}: not JSON (${errorMessage(error)})` })
      return undefined
    }
    if (!isEventObject(value)) {
      fail({ position: position(line, offset, next), code: 'ERR_NOT_AN_OBJECT', message: `${key}:${line}: expected an event object, got ${jsonKindOf(value)}` })
      return undefined
    }
    const event = unwrapDeadLetter(value)
    if (!event) {
      fail({ position: position(line, offset, next), code: 'ERR_INVALID_JSON', message: `${key}:${line}: a dead letter without an event` })
      return undefined
    }
    return setPosition(event, position(line, offset, next))
  }
  for await (const chunk of input) {
    scanner.push(chunk)
    for (const entry of entriesOf(scanner.take())) {
      const event = eventOf(entry)
      if (event) yield event
    }
  }
  scanner.end()
  for (const entry of entriesOf(scanner.take())) {
    const event = eventOf(entry)
    if (event) yield event
  }
}

async function* elements(object: ObjectBytes, input: AsyncIterable<Buffer> | Iterable<Buffer>, fail: Fail, at: (where: string) => void): AsyncGenerator<Event> {
  const { uri, key } = object
  const skipThrough = object.start && 'index' in object.start ? object.start.index : -1
  const queue: unknown[] = []
  let parseError: unknown
  let sawArray = false
  let index = 0
  const parser = new JSONParser({ paths: ['$.*'], keepStack: false, stringBufferSize: 64 * 1024 })
  parser.onValue = ({ value, key: k }) => {
    if (typeof k === 'number') {
      sawArray = true
      queue.push(value)
    }
  }
  parser.onError = (error) => {
    parseError ??= error
  }
  const drain = function* () {
    for (const value of queue) {
      const position: S3Position = { kind: 's3', source: uri, key, index }
      index++
      at(` after element ${index - 1}`)
      if (index - 1 <= skipThrough) continue
      if (!isEventObject(value)) {
        fail({ position, code: 'ERR_NOT_AN_OBJECT', message: `${key}[${index - 1}]: expected an event object, got ${jsonKindOf(value)}` })
        continue
      }
      yield setPosition(value, position)
    }
    queue.length = 0
  }
  let bytes = 0
  for await (const chunk of input) {
    bytes += chunk.length
    if (!parseError) {
      try {
        parser.write(chunk)
      } catch (error) {
        parseError ??= error
      }
    }
    yield* drain()
    if (parseError) break
  }
  if (!parseError && !parser.isEnded && bytes > 0) {
    try {
      parser.end()
    } catch (error) {
      parseError ??= error
    }
  }
  yield* drain()
  if (parseError || (bytes > 0 && !sawArray && !parser.isEnded)) {
    throw new HydratorError('ERR_SOURCE_READ', `${key}: not a valid JSON array after element ${index - 1}: ${errorMessage(parseError ?? 'it ends early')}`, { cause: parseError })
  }
}

async function* whole(object: ObjectBytes, input: AsyncIterable<Buffer> | Iterable<Buffer>, fail: Fail): AsyncGenerator<Event> {
  const { uri, key, maxLineBytes } = object
  const position: S3Position = { kind: 's3', source: uri, key }
  const pieces: Buffer[] = []
  let size = 0
  for await (const chunk of input) {
    size += chunk.length
    if (size <= maxLineBytes) pieces.push(chunk)
  }
  if (size > maxLineBytes) {
    fail({ position, code: 'ERR_LINE_TOO_LONG', message: `${key}: the object is larger than maxLineBytes (${maxLineBytes} bytes)` })
    return
  }
  const buf = pieces.length === 1 ? pieces[0]! : Buffer.concat(pieces)
  if (!isUtf8(buf)) {
    fail({ position, code: 'ERR_INVALID_UTF8', message: `${key}: the object is not valid UTF-8` })
    return
  }
  const text = buf.toString('utf8').replace(/^\uFEFF/, '')
  if (text.trim() === '') return
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch (error) {
    fail({ position, code: 'ERR_INVALID_JSON', message: `${key}: not JSON (${errorMessage(error)})` })
    return
  }
  if (!isEventObject(value)) {
    fail({ position, code: 'ERR_NOT_AN_OBJECT', message: `${key}: expected an event object, got ${jsonKindOf(value)}` })
    return
  }
  yield setPosition(value, position)
}
