// The S3 sink: events as gzip NDJSON objects for Athena, rolled by count or bytes, partitioned
// Hive-style by a time field. Each object is built in memory and stored with one PutObject (S3 stores
// a PUT whole or not at all, so no half object is ever visible), and its events count as written
// only once it is stored: a checkpoint never passes an event of an unwritten object.
import { once } from 'node:events'
import { finished } from 'node:stream/promises'
import { createGzip, gunzip, type Gzip } from 'node:zlib'
import { promisify } from 'node:util'
import type { S3Client } from '@aws-sdk/client-s3'
import { newTally, resultOf, withSinkInfo } from '../define-sink.js'
import { HydratorError, errorCode, errorMessage, isConfigError } from '../errors.js'
import { positionOf } from '../position.js'
import { FailureSamples } from '../report/failures.js'
import { isRetryableAwsError, loadAwsSdk } from '../util/aws.js'
import { validateRetryPolicy, withRetry, type RetryPolicy } from '../retry.js'
import type { AbortOptions, ItemFailure, Sink, SinkContext, SinkResult } from '../types.js'
import { assertInteger, assertString } from '../util/options.js'
import { capText } from '../util/text.js'
import { serializeEvent } from '../util/serialize.js'
import { rawTextOf } from '../raw-text.js'
import { attemptsOf, isConditionFailed, isMissingObject, s3Error, type S3Operation } from './errors.js'
import {
  DEFAULT_MAX_BYTES,
  DEFAULT_MAX_EVENTS,
  checkSinkState,
  isOwnObject,
  objectKey,
  partitionOf,
  sinkRequests,
  type ObjectPlace,
  type S3SinkState,
} from './sink-objects.js'

const gunzipAsync = promisify(gunzip)

/** Options of {@link toS3}. */
export interface ToS3Options extends AbortOptions {
  /** An S3 client (`new S3Client({ region })`), typed structurally; the caller owns and destroys it. */
  readonly client: Pick<S3Client, 'send'>
  /** The bucket, which must exist. */
  readonly bucket: string
  /** The folder the objects go to (`exports/orders`); `''` for the bucket's root. @default '' */
  readonly prefix?: string
  /** Events per object at most. @default 100000 */
  readonly maxEvents?: number
  /** Uncompressed bytes per object at most (an event larger than this is an object of its own). @default 67108864 (64 MiB) */
  readonly maxBytes?: number
  /**
   * A JSON path to a time (ISO-8601, or epoch milliseconds) in each event: objects go to
   * `dt=YYYY-MM-DD/` folders by its UTC date. An event without it, or with no time there, fails
   * with ERR_MAPPING. @default no partitions
   */
  readonly partitionBy?: string
  /** Put into every object name, for several writers (the shares of a split run) in one prefix. */
  readonly writer?: string
  /** The sink state a checkpoint recorded (its `sinkState`): go on exactly where it stopped. */
  readonly resume?: unknown
  /**
   * Write a fresh run over objects of this writer's names already in the prefix. Without it such a
   * run is refused (ERR_TARGET_NOT_EMPTY): a new run that writes fewer objects than an old one
   * would leave the old one's later objects beside it, and Athena would read both. @default false
   */
  readonly overwrite?: boolean
  /** Retries of a PutObject that was throttled (503 SlowDown), failed with a 5xx or lost its connection. */
  readonly retry?: RetryPolicy
  /** The URI the report names. @default `s3://<bucket>/<prefix>` */
  readonly uri?: string
}

/** What a dry run shows: an object it would write. */
export interface S3ObjectPreview {
  readonly key: string
  readonly events: number
  /** Uncompressed. */
  readonly bytes: number
}

/** The object being filled: its lines stream into gzip as they come, its events wait for the PUT. */
interface OpenObject {
  readonly seq: number
  readonly partition: string | undefined
  readonly key: string
  /** Lines read back from the object a resumed run goes on with; their events were settled before. */
  readonly kept: number
  /** The stored object holds more than the kept lines: it must be written again even with no new event. */
  readonly dirty: boolean
  readonly events: unknown[]
  lines: number
  bytes: number
  readonly gzip: Gzip | undefined
  readonly chunks: Buffer[]
}

const FAILED = Object.freeze({ status: 'failed' as const })
const WRITTEN = Object.freeze({ status: 'written' as const })

function checkOptions(options: ToS3Options) {
  if (!options || typeof options.client?.send !== 'function') {
    throw new HydratorError('ERR_INVALID_OPTION', 'expected `client` to be an S3 client (an object with `send`)')
  }
  const bucket = assertString('bucket', options.bucket)
  const prefix = options.prefix ?? ''
  if (typeof prefix !== 'string') throw new HydratorError('ERR_INVALID_OPTION', `expected \`prefix\` to be a string, got \`${String(prefix).slice(0, 80)}\``)
  const writer = options.writer
  if (writer !== undefined && !/^[A-Za-z0-9_.-]{1,64}$/.test(writer)) {
    throw new HydratorError('ERR_INVALID_OPTION', `expected \`writer\` to be 1-64 letters, digits, \`_\`, \`.\` or \`-\`, got \`${String(writer).slice(0, 80)}\``)
  }
  const place: ObjectPlace = { bucket, prefix: prefix.replace(/^\/+|\/+$/g, ''), ...(writer ? { writer } : {}) }
  return {
    place,
    maxEvents: assertInteger('maxEvents', options.maxEvents ?? DEFAULT_MAX_EVENTS, 1),
    maxBytes: assertInteger('maxBytes', options.maxBytes ?? DEFAULT_MAX_BYTES, 1),
    partition: options.partitionBy === undefined ? undefined : partitionOf(options.partitionBy),
    resume: options.resume === undefined ? undefined : checkSinkState(options.resume, place),
    overwrite: options.overwrite ?? false,
    retry: validateRetryPolicy(options.retry),
  }
}

/** A failed S3 call as the HydratorError the CLI documents (see {@link s3Error}), naming the sink's permissions. */
function sinkError(error: unknown, place: ObjectPlace, key: string, operation: S3Operation): HydratorError {
  const objects = `arn:aws:s3:::${place.bucket}/${place.prefix ? `${place.prefix}/` : ''}*`
  const needs = `the S3 sink needs s3:ListBucket on arn:aws:s3:::${place.bucket}, s3:PutObject on ${objects}, and s3:GetObject there to resume and to check a PUT sent again`
  return s3Error(error, { bucket: place.bucket, key }, operation, needs)
}

/**
 * Writes events to S3 as gzip NDJSON objects that Athena reads: `<prefix>/[dt=YYYY-MM-DD/]part-<seq>.ndjson.gz`,
 * in event order, a new object when one reaches `maxEvents` or `maxBytes`, when the partition
 * changes, and at the end. Names sort in event order, and a resumed run writes the object it was
 * filling again under the same name. One object is held in memory at a time (its events, and its
 * lines gzipped as they come), and reading waits while it is stored. Before any event is read the
 * bucket is checked (ListObjectsV2 on the prefix): a missing bucket is ERR_TARGET_NOT_FOUND, a refusal
 * ERR_AUTH. A PutObject that is throttled, fails with a 5xx or loses its connection is retried; one
 * that still fails stops the run, its events not handled and after the checkpoint's mark.
 *
 * @example
 * const result = await pipe(readJsonLines('events.ndjson'), toS3({ client: new S3Client({}), bucket: 'lake', prefix: 'orders', partitionBy: 'time' }))
 */
export function toS3<T = unknown>(options: ToS3Options): Sink<T> {
  const { place, maxEvents, maxBytes, partition, resume, overwrite, retry } = checkOptions(options)
  const { client } = options
  const uri = options.uri ?? `s3://${place.bucket}/${place.prefix}`
  let sdk: Promise<typeof import('@aws-sdk/client-s3')> | undefined
  const loadSdk = () => (sdk ??= loadAwsSdk('@aws-sdk/client-s3', () => import('@aws-sdk/client-s3')))

  const sink = async function s3Sink(source: AsyncIterable<T>, context: SinkContext = {}): Promise<SinkResult> {
    // A dry run reaches a sink one way only: the context run() gives it.
    const dryRun = context.dryRun ?? false
    const signal = context.signal ?? options.signal
    const tally = context.tally ?? newTally()
    const previewLimit = context.previewLimit ?? 5
    const samples = new FailureSamples()
    const previews: S3ObjectPreview[] = []
    const retried = (reason: string) => {
      tally.retries[reason] = (tally.retries[reason] ?? 0) + 1
    }
    const fail = (event: unknown, error: unknown) => {
      tally.failed++
      const item: ItemFailure = { stage: 's3', position: positionOf(event), code: errorCode(error), message: capText(errorMessage(error)) }
      samples.add(item)
      context.onFailure?.(item, event)
    }
    const send = async <R>(operation: S3Operation, key: string, make: (s: typeof import('@aws-sdk/client-s3')) => object, opening: boolean): Promise<R> => {
      const s = await loadSdk()
      try {
        return await withRetry(
          () => client.send(make(s) as never, opening && signal ? { abortSignal: signal } : {}) as Promise<R>,
          retry,
          // Only open() sees the signal: a PUT that started is always finished.
          { isRetryable: isRetryableAwsError, onRetry: retried, ...(opening && signal ? { signal } : {}) },
        )
      } catch (error) {
        throw sinkError(error, place, key, operation)
      }
    }

    // Before any event: the bucket is there and ours to list; a resumed run reads back the object it was filling.
    const probeKey = place.prefix ? `${place.prefix}/` : ''
    const listed = await send<{ Contents?: { Key?: string }[] }>('ListObjectsV2', probeKey, (s) => new s.ListObjectsV2Command(sinkRequests.probe(place)), true)
    // A fresh run into a prefix that holds objects of its own names would mix with them.
    const earlier = resume === undefined && !overwrite ? listed.Contents?.find(({ Key }) => Key !== undefined && isOwnObject(place, Key))?.Key : undefined
    if (earlier !== undefined) {
      throw new HydratorError(
        'ERR_TARGET_NOT_EMPTY',
        `s3://${place.bucket}/${place.prefix ? `${place.prefix}/` : ''} already holds objects this run would write (${earlier}): ` +
          'a new run would mix with them. Write to another prefix, delete them, resume the run that wrote them with its checkpoint, or pass ?overwrite=true',
      )
    }
    let seq = resume?.seq ?? 0
    let current = resume && resume.lines > 0 ? await reopen(resume, dryRun) : undefined

    async function reopen(state: S3SinkState, dry: boolean): Promise<OpenObject> {
      const key = state.key!
      const object = start(state.seq, state.partition, dry, state.lines)
      if (dry) return Object.assign(object, { lines: state.lines })
      let stored: string[]
      try {
        const out = await send<{ Body?: { transformToByteArray(): Promise<Uint8Array> } }>('GetObject', key, (s) => new s.GetObjectCommand(sinkRequests.get(place, key)), true)
        const text = (await gunzipAsync(await out.Body!.transformToByteArray())).toString('utf8')
        stored = text.split('\n')
        stored.pop()
      } catch (error) {
        object.gzip?.destroy()
        // S3's refusals keep their code; a missing or unreadable object is not the one the checkpoint knew.
        const missing = isMissingObject((error as { cause?: unknown }).cause)
        const code = error instanceof HydratorError && !missing ? error.code : 'ERR_CHECKPOINT_MISMATCH'
        throw new HydratorError(code, `cannot resume s3://${place.bucket}/${key}: ${missing ? 'the object is gone' : errorMessage(error)}`, { cause: error })
      }
      if (stored.length < state.lines) {
        object.gzip?.destroy()
        throw new HydratorError('ERR_CHECKPOINT_MISMATCH', `cannot resume s3://${place.bucket}/${key}: it holds ${stored.length} events, the checkpoint recorded ${state.lines}`)
      }
      const resumed: OpenObject = { ...object, dirty: stored.length > state.lines }
      for (let i = 0; i < state.lines; i++) await append(resumed, stored[i]!)
      return resumed
    }

    /**
     * Stores one object. A fresh run creates only objects that are not there (If-None-Match: *):
     * two runs started at once into one empty prefix (both past the check above) cannot overwrite
     * each other's objects; the second to store a name stops with ERR_TARGET_NOT_EMPTY. A resume
     * and ?overwrite=true write over what is there, as they must.
     */
    async function putObject(key: string, body: Buffer): Promise<void> {
      const create = resume === undefined && !overwrite
      let attempts = 0
      try {
        await send('PutObject', key, (s) => (attempts++, new s.PutObjectCommand({ ...sinkRequests.put(place, key, body), ...(create ? { IfNoneMatch: '*' } : {}) })), false)
      } catch (error) {
        const cause = error instanceof HydratorError ? error.cause : error
        if (!create || !isConditionFailed(cause)) throw error
        // A PUT sent again after its answer was lost: the first one stored it if the object holds exactly this body.
        if ((attempts > 1 || attemptsOf(cause) > 1) && (await holds(key, body))) return
        throw new HydratorError(
          'ERR_TARGET_NOT_EMPTY',
          `s3://${place.bucket}/${key} was stored by another writer while this run wrote into s3://${place.bucket}/${place.prefix ? `${place.prefix}/` : ''} ` +
            '(two runs into one prefix at once?): its events are not written. Give each run its own prefix, or pass ?overwrite=true',
          { cause: error },
        )
      }
    }

    /** True when the object `key` holds exactly `body`. */
    async function holds(key: string, body: Buffer): Promise<boolean> {
      try {
        const out = await send<{ Body?: { transformToByteArray(): Promise<Uint8Array> } }>('GetObject', key, (s) => new s.GetObjectCommand(sinkRequests.get(place, key)), false)
        return Buffer.from(await out.Body!.transformToByteArray()).equals(body)
      } catch {
        return false
      }
    }

    function start(at: number, part: string | undefined, dry: boolean, kept = 0): OpenObject {
      const gzip = dry ? undefined : createGzip()
      const chunks: Buffer[] = []
      gzip?.on('data', (chunk: Buffer) => chunks.push(chunk))
      return { seq: at, partition: part, key: objectKey(place, at, part), kept, dirty: false, events: [], lines: 0, bytes: 0, gzip, chunks }
    }

    async function append(object: OpenObject, line: string): Promise<void> {
      object.lines++
      object.bytes += Buffer.byteLength(line) + 1
      // Wait for gzip when it falls behind, so memory holds compressed bytes, not a queue of lines.
      if (object.gzip && !object.gzip.write(line + '\n')) await once(object.gzip, 'drain')
    }

    /** Stores the object (when it holds anything not yet stored) and settles its events. */
    async function close(object: OpenObject, full: boolean): Promise<void> {
      current = undefined
      seq = object.seq + 1
      if (dryRun) {
        if (previews.length < previewLimit && (object.lines > object.kept || object.dirty)) previews.push({ key: object.key, events: object.lines, bytes: object.bytes })
        return
      }
      const n = object.events.length
      if (n > 0 || object.dirty) {
        object.gzip!.end()
        await finished(object.gzip!)
        const body = Buffer.concat(object.chunks)
        object.chunks.length = 0
        await putObject(object.key, body)
      } else object.gzip!.destroy()
      if (n === 0) return
      const outcomes = new Array<{ status: 'written'; state: S3SinkState }>(n)
      for (let i = 0; i < n; i++) {
        const lines = object.kept + i + 1
        // After the last event of a full object, a resume starts the next one.
        outcomes[i] = { status: 'written', state: full && i === n - 1 ? { seq: object.seq + 1, lines: 0 } : { seq: object.seq, lines, key: object.key, ...(object.partition !== undefined ? { partition: object.partition } : {}) } }
      }
      tally.written += n
      await context.onSettled?.(object.events, outcomes)
    }

    try {
      for await (const event of source) {
        tally.received++
        let line: string
        let part: string | undefined
        try {
          // An event that reached here unchanged from a JSON source that kept its text is written as read.
          line = rawTextOf(event) ?? serializeEvent(event)
          part = partition?.(event)
        } catch (error) {
          if (isConfigError(error)) throw error
          fail(event, error)
          await context.onSettled?.([event], [FAILED])
          if (signal?.aborted) break
          continue
        }
        const size = Buffer.byteLength(line) + 1
        if (current && (current.partition !== part || current.bytes + size > maxBytes)) await close(current, false)
        current ??= start(seq, part, dryRun)
        await append(current, line)
        if (dryRun) {
          // Nothing is stored, so nothing waits: the event counts as it would be written.
          tally.written++
          await context.onSettled?.([event], [WRITTEN])
        } else current.events.push(event)
        if (current.lines >= maxEvents || current.bytes >= maxBytes) await close(current, true)
        // Stop reading at once; what was read is still written below.
        if (signal?.aborted) break
      }
      if (current) await close(current, false)
    } finally {
      // An upstream error or a failed PUT: the object's events stay unwritten, after the mark.
      current?.gzip?.destroy()
    }

    return resultOf(uri, dryRun, tally, samples, previews)
  }
  // Partitions are read from a field of each event.
  return withSinkInfo(sink, { uri, writesRawText: true, textOnly: options.partitionBy === undefined })
}

