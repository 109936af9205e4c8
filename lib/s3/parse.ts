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
  let offset = start ? start.offset : 0 // of the line being gathered
  let skip = start && !object.ranged ? start.offset : 0 // bytes to pass over (gzip: no ranged GET)
  let line = start ? start.line : 0
  let pieces: Buffer[] = []
  let pieceBytes = 0
  const position = (lineOffset: number, next: number): S3Position => ({ kind: 's3', source: uri, key, line, offset: lineOffset, next })
  const handle = (buf: Buffer, lineOffset: number, length: number): Event | undefined => {
    line++
    at(` after line ${line - 1}`)
    const next = lineOffset + length + 1
    if (length > maxLineBytes) {
      fail({ position: position(lineOffset, next), code: 'ERR_LINE_TOO_LONG', message: `${key}:${line}: the line is longer than maxLineBytes (${maxLineBytes} bytes)` })
      return undefined
    }
    let s = 0
    let e = buf.length
    if (e > s && buf[e - 1] === 0x0d) e--
    if (lineOffset === 0 && e - s >= 3 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) s += 3
    if (e <= s) return undefined
    const bytes = buf.subarray(s, e)
    if (!isUtf8(bytes)) {
      fail({ position: position(lineOffset, next), code: 'ERR_INVALID_UTF8', message: `${key}:${line}: the line is not valid UTF-8` })
      return undefined
    }
    const text = bytes.toString('utf8')
    let value: unknown
    try {
      value = JSON.parse(text)
    } catch (error) {
      if (text.trim() === '') return undefined
      fail({ position: position(lineOffset, next), code: 'ERR_INVALID_JSON', message: `${key}:${line}: not JSON (${errorMessage(error)})` })
      return undefined
    }
    if (!isEventObject(value)) {
      fail({ position: position(lineOffset, next), code: 'ERR_NOT_AN_OBJECT', message: `${key}:${line}: expected an event object, got ${jsonKindOf(value)}` })
      return undefined
    }
    const event = unwrapDeadLetter(value)
    if (!event) {
      fail({ position: position(lineOffset, next), code: 'ERR_INVALID_JSON', message: `${key}:${line}: a dead letter without an event` })
      return undefined
    }
    return setPosition(event, position(lineOffset, next))
  }
  for await (let chunk of input) {
    if (skip > 0) {
      if (chunk.length <= skip) {
        skip -= chunk.length
        continue
      }
      chunk = chunk.subarray(skip)
      skip = 0
    }
    let from = 0
    let nl = chunk.indexOf(0x0a)
    while (nl !== -1) {
      let buf: Buffer
      let length: number
      if (pieces.length > 0) {
        length = pieceBytes + nl
        buf = length > maxLineBytes ? Buffer.alloc(0) : Buffer.concat([...pieces, chunk.subarray(0, nl)])
        pieces = []
        pieceBytes = 0
      } else {
        buf = chunk.subarray(from, nl)
        length = buf.length
      }
      const lineOffset = offset
      offset += length + 1
      const event = handle(buf, lineOffset, length)
      if (event) yield event
      from = nl + 1
      nl = chunk.indexOf(0x0a, from)
    }
    if (from < chunk.length) {
      const rest = chunk.length - from
      // Past the limit, only the count is kept: the line is reported, not held.
      if (pieceBytes + rest <= maxLineBytes) pieces.push(chunk.subarray(from))
      else pieces = [Buffer.alloc(0)]
      pieceBytes += rest
    }
  }
  if (pieceBytes > 0) {
    const buf = pieceBytes > maxLineBytes ? Buffer.alloc(0) : Buffer.concat(pieces)
    const event = handle(buf, offset, pieceBytes)
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
