// readS3: the events of the objects under a prefix (or of an inventory, or of given keys), in key
// order, with GETs running ahead in parallel and memory bounded by the objects in flight.
import type { GetObjectCommandOutput, S3Client } from '@aws-sdk/client-s3'
import { setMaxListeners } from 'node:events'
import { defineSource, type StatefulSource } from '../define-source.js'
import { HydratorError, errorMessage } from '../errors.js'
import { formatPosition, type Position } from '../position.js'
import { retryReason, validateRetryPolicy, withRetry, type RetryPolicy } from '../retry.js'
import type { ItemFailure, SourceCapabilities, SourceOptions } from '../types.js'
import { assertInteger } from '../util/options.js'
import { awsErrorName, awsHttpStatus, isRetryableAwsError } from '../util/aws.js'
import { s3Error } from './errors.js'
import { globToRegExp, listObjects, loadS3Sdk, manifestObjects, readManifest, SOURCE_NEEDS, type S3Calls, type S3Filter, type S3KeyRange, type S3Object } from './keys.js'
import { eventsOf, formatOf, type InsideStart, type S3Format } from './parse.js'

/** Options of {@link readS3}. */
export interface ReadS3Options extends SourceOptions {
  /** An S3 client (`new S3Client({ region })`), typed structurally; never destroyed by the source. Give it `maxAttempts: 1`: the source retries itself. */
  readonly client: Pick<S3Client, 'send'>
  readonly bucket: string
  /** Only keys starting with this. @default '' (the whole bucket) */
  readonly prefix?: string
  /** Read every object this way instead of by its name (`.ndjson`/`.jsonl`/`.gz` lines, `.json` an array, else one event). */
  readonly format?: S3Format
  /** A glob on whole keys (`events/**\/*.event`): other objects are not read. */
  readonly match?: string
  /** Only objects last modified at or after this time. */
  readonly modifiedAfter?: Date | string
  /** Only objects last modified before this time. */
  readonly modifiedBefore?: Date | string
  /** GETs in flight ahead of the object being read; also the most objects held in memory. @default 16 */
  readonly concurrency?: number
  /** Keys per ListObjectsV2 page (S3 gives at most 1000). @default 1000 */
  readonly pageSize?: number
  /** Read only these keys of the listing (a share of a split run). */
  readonly range?: S3KeyRange
  /** Take the keys from an S3 Inventory (CSV) manifest instead of listing; `files` is a share of its data files. */
  readonly manifest?: { readonly bucket?: string; readonly key: string; readonly files?: { readonly from: number; readonly before: number } }
  /** Take the keys from here instead of listing, in this order. Failures of a source given here are reported as this one's. */
  readonly keys?: AsyncIterable<unknown> & SourceCapabilities
  /** Resume just after this position (from a checkpoint): after its object, or inside it by line or element. */
  readonly resumeFrom?: Position
  /** Retries of throttling (503 SlowDown), 5xx and dropped connections. @default 8 attempts */
  readonly retry?: RetryPolicy
  /** A longer line (or a larger one-event object) is a failure (ERR_LINE_TOO_LONG). @default 67108864 (64 MiB) */
  readonly maxLineBytes?: number
  /** Objects up to this size are fetched ahead whole; larger ones are streamed when their turn comes. @default 4194304 (4 MiB) */
  readonly maxBufferBytes?: number
  /** The URI in the report and positions. @default `s3://<bucket>/<prefix>` */
  readonly uri?: string
}

/** Live counts of an S3 source beyond {@link StatefulSource.stats}. */
export interface S3ObjectStats {
  /** Objects read to the end (or failed). */
  objects: number
  /** Objects fetched or being fetched and not yet read to the end, now. */
  inFlight: number
  /** The most there ever were: at most `concurrency`. */
  peakInFlight: number
  /** ListObjectsV2 pages read. */
  pages: number
  /** Retries made, by reason (`SlowDown: 3`, `ECONNRESET: 1`). */
  readonly retries: Record<string, number>
}

/** An S3 source: a {@link StatefulSource} that also counts objects, pages and retries. */
export interface S3Source extends StatefulSource<Record<string, unknown>> {
  readonly objects: S3ObjectStats
}

interface Entry {
  readonly object?: S3Object
  readonly start?: InsideStart
  readonly failure?: Omit<ItemFailure, 'stage'>
}
type Fetched = { body?: Buffer; deferred?: true; empty?: true; failure?: Omit<ItemFailure, 'stage'>; error?: unknown }

class Stopped extends Error {}

/**
 * Reads the objects of an S3 bucket under a prefix, listed with ListObjectsV2 in UTF-8 key order (or
 * the keys of an inventory manifest or of `keys`, in their order), each as what its name says:
 * NDJSON (`.ndjson`, `.jsonl`, `.gz`), one JSON array (`.json`), or one event (`.event`, anything
 * else). GETs run ahead in parallel (`concurrency`) while events come out in key order; memory holds
 * at most `concurrency` objects (of up to `maxBufferBytes` each; larger ones stream). An unreadable
 * record is a failure with key and line; an object in Glacier or Deep Archive is a failure
 * ERR_OBJECT_ARCHIVED with its key and storage class; reading goes on. A missing bucket
 * (ERR_TARGET_NOT_FOUND), a refusal (ERR_AUTH) or a bucket in another region (ERR_INVALID_OPTION)
 * throws before any event. Throttling, 5xx and dropped connections are retried (a body cut off
 * mid-way goes on from the byte it reached).
 *
 * @example
 * const source = readS3({ client: new S3Client({ maxAttempts: 1 }), bucket: 'events', prefix: '2026/', concurrency: 32 })
 * for await (const event of source) console.log(event['detail-type'])
 */
export function readS3(options: ReadS3Options): S3Source {
  if (!options || typeof options.client?.send !== 'function') throw new HydratorError('ERR_INVALID_OPTION', 'expected `client` to be an S3 client (an object with `send`)')
  if (typeof options.bucket !== 'string' || options.bucket === '') throw new HydratorError('ERR_INVALID_OPTION', `expected \`bucket\` to be a non-empty string, got \`${String(options.bucket).slice(0, 80)}\``)
  const prefix = options.prefix ?? ''
  const concurrency = assertInteger('concurrency', options.concurrency ?? 16, 1, 1000)
  const pageSize = assertInteger('pageSize', options.pageSize ?? 1000, 1, 1000)
  const maxLineBytes = assertInteger('maxLineBytes', options.maxLineBytes ?? 64 * 1024 * 1024, 1)
  const maxBufferBytes = assertInteger('maxBufferBytes', options.maxBufferBytes ?? 4 * 1024 * 1024, 0)
  const retry = validateRetryPolicy(options.retry)
  if (options.format !== undefined && !['lines', 'array', 'files'].includes(options.format)) {
    throw new HydratorError('ERR_INVALID_OPTION', `expected \`format\` to be lines, array or files, got \`${String(options.format)}\``)
  }
  if (options.manifest && options.keys) throw new HydratorError('ERR_INVALID_OPTION', 'give one of `manifest` and `keys`, not both')
  if (options.range && (options.manifest || options.keys)) throw new HydratorError('ERR_INVALID_OPTION', '`range` splits a listing; a manifest is split by `manifest.files`')
  const filter: S3Filter = {
    prefix,
    ...(options.match !== undefined ? { match: globToRegExp(options.match) } : {}),
    ...(options.modifiedAfter !== undefined ? { modifiedAfter: dateOption('modifiedAfter', options.modifiedAfter) } : {}),
    ...(options.modifiedBefore !== undefined ? { modifiedBefore: dateOption('modifiedBefore', options.modifiedBefore) } : {}),
  }
  const from = options.resumeFrom
  if (from && from.kind !== 's3') throw new HydratorError('ERR_CHECKPOINT_MISMATCH', `cannot resume an S3 source from a position of kind \`${from.kind}\``)
  const inside: InsideStart | undefined = from?.line !== undefined && from.next !== undefined ? { offset: from.next, line: from.line } : from?.index !== undefined ? { index: from.index } : undefined
  const uri = options.uri ?? `s3://${options.bucket}/${prefix}`
  const { client, bucket } = options
  const objects: S3ObjectStats = { objects: 0, inFlight: 0, peakInFlight: 0, pages: 0, retries: {} }
  const onRetry = (reason: string) => {
    objects.retries[reason] = (objects.retries[reason] ?? 0) + 1
  }

  const source = defineSource<Record<string, unknown>>(uri, options, async function* readS3Source({ stats, fail, signal: outer }) {
    let wake: (() => void) | undefined
    let room: (() => void) | undefined
    const notify = () => {
      const w = wake
      wake = undefined
      w?.()
    }
    const stopper = new AbortController()
    const onAbort = () => {
      stopper.abort(outer?.reason)
      notify()
      room?.()
    }
    outer?.addEventListener('abort', onAbort, { once: true })
    if (outer?.aborted) onAbort()
    const signal = stopper.signal
    // Every request in flight listens to it.
    setMaxListeners(concurrency * 2 + 16, signal)
    const calls: S3Calls = { client, bucket, retry, signal, onRetry }
    const { GetObjectCommand } = await loadS3Sdk()
    const entries = entriesOf(calls)
    const window: { entry: Entry; fetched: Promise<Fetched> }[] = []
    let listed = false
    let listError: unknown
    const retryCall = { isRetryable: (e: unknown) => !signal.aborted && isRetryableAwsError(e), onRetry, signal }

    const get = (key: string, at = 0, etag?: string) =>
      client.send(new GetObjectCommand({ Bucket: bucket, Key: key, ...(at > 0 ? { Range: `bytes=${at}-` } : {}), ...(etag ? { IfMatch: etag } : {}) }), { abortSignal: signal })

    // What a GET that failed means: a failure of this object (archived, gone), or the run's end.
    const classify = (error: unknown, object: S3Object): Fetched => {
      if (signal.aborted) return { error: new Stopped() }
      const name = awsErrorName(error) ?? (error as { Code?: string })?.Code
      if (name === 'InvalidObjectState') {
        const storageClass = (error as { StorageClass?: string }).StorageClass ?? object.storageClass ?? 'an archive storage class'
        return { failure: { position: { kind: 's3', source: uri, key: object.key }, key: object.key, code: 'ERR_OBJECT_ARCHIVED', message: `${object.key}: the object is in ${storageClass} and cannot be read until it is restored` } }
      }
      if (name === 'NoSuchKey') return { failure: { position: { kind: 's3', source: uri, key: object.key }, key: object.key, code: 'NoSuchKey', message: `${object.key}: the object is gone (deleted after it was listed?)` } }
      if (name === 'InvalidRange' || awsHttpStatus(error) === 416) return { empty: true }
      return { error: s3Error(error, { bucket, key: object.key }, 'GetObject', SOURCE_NEEDS) }
    }

    const prefetch = async (entry: Entry): Promise<Fetched> => {
      const object = entry.object
      if (!object) return {}
      if (entry.start || (object.size ?? 0) > maxBufferBytes) return { deferred: true }
      try {
        return await withRetry(async () => {
          const out = await get(object.key)
          if (out.ContentLength !== undefined && out.ContentLength > maxBufferBytes) {
            destroyBody(out)
            return { deferred: true }
          }
          const body = Buffer.from((await out.Body?.transformToByteArray()) ?? [])
          if (out.ContentLength !== undefined && body.length < out.ContentLength) throw shortBody(body.length, out.ContentLength)
          stats.bytesRead += body.length
          return { body }
        }, retry, retryCall)
      } catch (error) {
        return classify(error, object)
      }
    }

    // The body of a big (or resumed) object, read at its turn; a body cut off goes on from where it stopped.
    async function* stream(object: S3Object, first: GetObjectCommandOutput, at: number): AsyncGenerator<Buffer> {
      let out: GetObjectCommandOutput | undefined = first
      const etag = first.ETag
      let cuts = 0
      for (;;) {
        try {
          out ??= await withRetry(() => get(object.key, at, etag), retry, retryCall)
          const end = out.ContentLength !== undefined ? at + out.ContentLength : undefined
          for await (const chunk of out.Body as AsyncIterable<Uint8Array>) {
            const buf = Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk)
            at += buf.length
            stats.bytesRead += buf.length
            cuts = 0
            yield buf
          }
          if (end !== undefined && at < end) throw shortBody(at, end)
          return
        } catch (error) {
          if (signal.aborted) throw new Stopped()
          if (!isRetryableAwsError(error) || ++cuts >= retry.attempts) throw error
          onRetry(retryReason(error))
        } finally {
          if (out) destroyBody(out)
          out = undefined
        }
      }
    }

    const fill = async () => {
      try {
        for (;;) {
          while (window.length >= concurrency && !signal.aborted) await new Promise<void>((resolve) => (room = resolve))
          if (signal.aborted) return
          const next = await entries.next()
          if (next.done) return
          const fetched = prefetch(next.value)
          window.push({ entry: next.value, fetched })
          objects.inFlight = window.length
          if (window.length > objects.peakInFlight) objects.peakInFlight = window.length
          notify()
        }
      } catch (error) {
        listError = error
      } finally {
        listed = true
        notify()
      }
    }

    try {
      void fill()
      for (;;) {
        if (signal.aborted) return
        if (window.length === 0) {
          if (listError) throw listError
          if (listed) break
          await new Promise<void>((resolve) => (wake = resolve))
          continue
        }
        const { entry, fetched } = window[0]!
        const got = await fetched
        if (got.error instanceof Stopped) return
        if (got.error) throw got.error
        const object = entry.object
        if (entry.failure || got.failure) fail((entry.failure ?? got.failure)!)
        else if (object && !got.empty) {
          const format = formatOf(object.key, options.format)
          const ranged = entry.start !== undefined && 'offset' in entry.start && format === 'lines' && !/\.gz$/i.test(object.key)
          let chunks: AsyncIterable<Buffer> | Iterable<Buffer> | undefined = got.body ? [got.body] : undefined
          if (!chunks) {
            const at = ranged ? (entry.start as { offset: number }).offset : 0
            let first: GetObjectCommandOutput | undefined
            try {
              first = await withRetry(() => get(object.key, at), retry, retryCall)
            } catch (error) {
              const r = classify(error, object)
              if (r.error instanceof Stopped) return
              if (r.error) throw r.error
              if (r.failure) fail(r.failure)
            }
            if (first) chunks = stream(object, first, at)
          }
          if (chunks) {
            for await (const event of eventsOf({ uri, key: object.key, format, chunks, ranged, maxLineBytes, ...(entry.start ? { start: entry.start } : {}) }, fail)) {
              stats.read++
              yield event
            }
          }
        }
        if (object) objects.objects++
        window.shift()
        objects.inFlight = window.length
        room?.()
        if (signal.aborted) return
      }
    } catch (error) {
      if (error instanceof Stopped) return
      throw error
    } finally {
      outer?.removeEventListener('abort', onAbort)
      stopper.abort()
      room?.()
      // Not awaited: a list still waiting on its source (stdin, say) must not hold the stop up.
      entries.return?.(undefined).catch(() => {})
      for (const { fetched } of window.splice(0)) void fetched
    }
  }, from ? { startedAt: from } : {}) as S3Source
  Object.defineProperty(source, 'objects', { value: objects, enumerable: true })
  return source

  // The objects to read in order, starting after the resume position.
  async function* entriesOf(calls: S3Calls): AsyncGenerator<Entry, void, undefined> {
    const resumeKey = from?.kind === 's3' ? from.key : undefined
    if (!options.manifest && !options.keys) {
      // The first page is the probe: a missing bucket or a refusal throws before any event.
      if (resumeKey !== undefined && inside) yield { object: { key: resumeKey }, start: inside }
      yield* wrap(listObjects(calls, filter, { pageSize, ...(resumeKey !== undefined ? { startAfter: resumeKey } : {}), ...(options.range ? { range: options.range } : {}), onPage: () => objects.pages++ }))
      return
    }
    let list: AsyncGenerator<Entry>
    if (options.manifest) {
      const at = { bucket: options.manifest.bucket ?? bucket, key: options.manifest.key }
      const manifest = await readManifest(calls, at)
      list = wrap(manifestObjects(calls, manifest, filter, options.manifest.files))
    } else list = keyEntries(options.keys!)
    if (resumeKey === undefined) return yield* list
    let found = false
    for await (const entry of list) {
      if (found) yield entry
      else if (entry.object?.key === resumeKey) {
        found = true
        if (inside) yield { ...entry, start: inside }
      }
    }
    if (!found) throw new HydratorError('ERR_CHECKPOINT_MISMATCH', `cannot resume: \`${resumeKey}\` is not among the keys of \`${uri}\``)
  }

  async function* wrap(list: AsyncIterable<S3Object>): AsyncGenerator<Entry> {
    for await (const object of list) yield { object }
  }

  async function* keyEntries(keys: AsyncIterable<unknown> & SourceCapabilities): AsyncGenerator<Entry> {
    const pending: ItemFailure[] = []
    keys.addFailureListener?.((failure) => pending.push(failure))
    // The other source's failures come through in order, without its positions: this source resumes by key.
    const forwarded = () => pending.splice(0).map((f): Entry => ({ failure: { code: f.code, message: `${f.position ? `${formatPosition(f.position)}: ` : ''}${f.message}` } }))
    for await (const value of keys) {
      yield* forwarded()
      if (typeof value === 'string' && value !== '') {
        if (value.startsWith(prefix) && (!filter.match || filter.match.test(value))) yield { object: { key: value } }
      } else yield { failure: { code: 'ERR_MAPPING', message: `expected a key (a non-empty string), got \`${errorMessage(JSON.stringify(value) ?? String(value)).slice(0, 100)}\`` } }
    }
    yield* forwarded()
  }
}

/** A body that ended before its Content-Length: a cut connection, retried like one. */
function shortBody(got: number, expected: number): Error {
  return Object.assign(new Error(`the body ended after ${got} of ${expected} bytes`), { code: 'ECONNRESET' })
}

function destroyBody(out: GetObjectCommandOutput): void {
  ;(out.Body as { destroy?: () => void } | undefined)?.destroy?.()
}

function dateOption(name: string, value: Date | string): Date {
  const date = value instanceof Date ? value : new Date(value)
  if (Number.isNaN(date.getTime())) throw new HydratorError('ERR_INVALID_OPTION', `expected \`${name}\` to be a date (ISO 8601), got \`${String(value).slice(0, 80)}\``)
  return date
}
