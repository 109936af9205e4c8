// The pure part of the S3 sink: its options and their defaults, object names, the partition of an
// event, the resume state a checkpoint keeps, and the requests it sends. No I/O here.
import type { GetObjectCommandInput, ListObjectsV2CommandInput, PutObjectCommandInput } from '@aws-sdk/client-s3'
import { HydratorError } from '../errors.js'
import { compilePath } from '../util/json-path.js'
import { describeValue } from '../util/text.js'

/** Events per object when `maxEvents` is not given. */
export const DEFAULT_MAX_EVENTS = 100_000
/** Uncompressed bytes per object when `maxBytes` is not given (64 MiB). */
export const DEFAULT_MAX_BYTES = 64 * 1024 * 1024
/** Digits of an object's sequence number: names sort in event order up to 10^10 objects. */
const SEQUENCE_DIGITS = 10

/** Where the sink writes: a bucket, and a prefix without leading or trailing `/` ('' for the bucket's root). */
export interface ObjectPlace {
  readonly bucket: string
  readonly prefix: string
  /** Put into every name (`part-<writer>-<seq>`), so several writers (the shares of a split run) can share a prefix. */
  readonly writer?: string
}

/**
 * The key of object number `seq`: `<prefix>/dt=<date>/part-<seq>.ndjson.gz` (no `dt=` folder without
 * a partition). Sequence numbers count up over the whole run, across partitions, so names sort in
 * event order, and a resumed run gives the object it was writing the same name again.
 */
export function objectKey(place: ObjectPlace, seq: number, partition: string | undefined): string {
  const folder = [place.prefix, partition === undefined ? '' : `dt=${partition}`].filter(Boolean).join('/')
  const name = `part-${place.writer ? `${place.writer}-` : ''}${String(seq).padStart(SEQUENCE_DIGITS, '0')}.ndjson.gz`
  return folder ? `${folder}/${name}` : name
}

/** A key this writer's objects may have: `<prefix>/[dt=<date>/]part-[<writer>-]<seq>.ndjson.gz`. */
export function isOwnObject(place: ObjectPlace, key: string): boolean {
  const folder = place.prefix ? `${place.prefix}/` : ''
  if (!key.startsWith(folder)) return false
  const rest = key.slice(folder.length)
  const slash = rest.indexOf('/')
  const name = slash === -1 ? rest : rest.slice(slash + 1)
  if (slash !== -1 && !/^dt=[^/]*$/.test(rest.slice(0, slash))) return false
  const writer = place.writer ? `${place.writer.replace(/[.]/g, '\\.')}-` : ''
  return new RegExp(`^part-${writer}\\d{${SEQUENCE_DIGITS}}\\.ndjson\\.gz$`).test(name)
}

const ISO_TIME = /^(\d{4}-\d{2}-\d{2})(?:[T ](\d{2}:\d{2}(?::\d{2}(?:[.,]\d{1,9})?)?)(Z|[+-]\d{2}(?::?\d{2})?)?)?$/i

/**
 * The UTC date (`YYYY-MM-DD`) of a time: an ISO-8601 string (a time without an offset is UTC) or
 * epoch milliseconds. Undefined for anything else.
 */
export function utcDate(value: unknown): string | undefined {
  let ms: number
  if (typeof value === 'number') ms = value
  else if (typeof value === 'string') {
    const m = ISO_TIME.exec(value.trim())
    if (!m) return undefined
    if (m[2] === undefined) ms = Date.parse(`${m[1]}T00:00:00Z`)
    else {
      let zone = (m[3] ?? 'Z').toUpperCase()
      if (/^[+-]\d{2}$/.test(zone)) zone += ':00'
      else if (/^[+-]\d{4}$/.test(zone)) zone = `${zone.slice(0, 3)}:${zone.slice(3)}`
      ms = Date.parse(`${m[1]}T${m[2].replace(',', '.')}${zone}`)
    }
  } else return undefined
  if (!Number.isFinite(ms) || Math.abs(ms) > 8.64e15) return undefined
  const date = new Date(ms).toISOString()
  // Years past 9999 are written `+010000-...`: not a folder name Athena would read as a date.
  return /^\d{4}-/.test(date) ? date.slice(0, 10) : undefined
}

/**
 * The partition of an event from the time at `path`, as a function; it throws ERR_MAPPING naming
 * the path when the event has no such value or it is not a time.
 *
 * @example
 * partitionOf('time')({ time: '2026-12-06T23:59:59Z' }) // '2026-12-06'
 */
export function partitionOf(path: string): (event: unknown) => string {
  const get = compilePath(path)
  return (event) => {
    const value = get(event)
    if (value === undefined || value === null) {
      throw new HydratorError('ERR_MAPPING', `the event has no \`${path}\` to partition by (\`partitionBy\`)`)
    }
    const date = utcDate(value)
    if (date === undefined) {
      throw new HydratorError(
        'ERR_MAPPING',
        `\`${path}\` is ${describeValue(value)}, not a time to partition by: expected an ISO-8601 time (\`2026-12-06T10:00:00Z\`) or epoch milliseconds`,
      )
    }
    return date
  }
}

/**
 * What a checkpoint keeps for the sink after an event: object `seq` holds the event as its line
 * number `lines` (`key` is that object; `partition` its date). A resumed run reads the first `lines`
 * lines of `key` back and goes on filling that object, so it ends as the uninterrupted run's would.
 * `lines: 0` means object `seq` is not started.
 */
export interface S3SinkState {
  readonly seq: number
  readonly lines: number
  readonly key?: string
  readonly partition?: string
}

/** The resume state a checkpoint gave back, checked; throws ERR_CHECKPOINT_MISMATCH for a malformed one. */
export function checkSinkState(state: unknown, place: ObjectPlace): S3SinkState {
  const s = state as Partial<S3SinkState> | null
  const seqOk = Number.isInteger(s?.seq) && s!.seq! >= 0
  const linesOk = Number.isInteger(s?.lines) && s!.lines! >= 0
  const keyOk = s?.lines === 0 || (typeof s?.key === 'string' && s.key === objectKey(place, s.seq!, s.partition))
  if (!s || typeof s !== 'object' || !seqOk || !linesOk || !keyOk) {
    throw new HydratorError(
      'ERR_CHECKPOINT_MISMATCH',
      `cannot resume s3://${place.bucket}/${place.prefix}: the checkpoint's sink state ${describeValue(state)} is not one this sink wrote here`,
    )
  }
  return { seq: s.seq!, lines: s.lines!, ...(s.key !== undefined ? { key: s.key } : {}), ...(s.partition !== undefined ? { partition: s.partition } : {}) }
}

/** @internal The sink's requests, built apart from sending them. */
export const sinkRequests = {
  /** The check made before any event is read: the bucket exists, we may list the prefix, and no earlier run's objects are there. */
  probe: (place: ObjectPlace): ListObjectsV2CommandInput => ({
    Bucket: place.bucket,
    // One page: enough to see an earlier run's objects, whose names sort first in a prefix of its own.
    ...(place.prefix ? { Prefix: `${place.prefix}/` } : {}),
  }),
  get: (place: ObjectPlace, key: string): GetObjectCommandInput => ({ Bucket: place.bucket, Key: key }),
  put: (place: ObjectPlace, key: string, body: Uint8Array): PutObjectCommandInput => ({
    Bucket: place.bucket,
    Key: key,
    Body: body,
    ContentLength: body.byteLength,
    // Not `Content-Encoding: gzip`: clients that honour it would hand readers the NDJSON unzipped
    // while the name says `.gz`. Athena reads the gzip by its extension.
    ContentType: 'application/gzip',
  }),
}
