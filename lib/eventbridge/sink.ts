import type { EventBridgeClient, PutEventsRequestEntry, PutEventsResultEntry } from '@aws-sdk/client-eventbridge'
import { HydratorError, errorMessage } from '../errors.js'
import type { Sink, SinkContext } from '../types.js'
import { awsConfigError, awsErrorName, isAwsThrottle, isRetryableAwsError } from '../util/aws.js'
import { asTime, compileEnvelope, validateEnvelope, type Envelope, type EnvelopeDefaults } from '../envelope.js'
import { tokenBucket, type TokenBucket } from '../stages/rate.js'
import { assertInteger, assertString } from '../util/options.js'
import { validateRetryPolicy, withRetry, type RetryPolicy } from '../retry.js'
import { defineSink, withSinkInfo, type DriverContext, type SinkOptions, type WriteOutcome } from '../define-sink.js'

/** PutEvents takes at most this many entries per request. */
export const PUT_EVENTS_MAX_ENTRIES = 10
/** PutEvents' historical limit on the total entry size of a request (AWS raised it to 1 MB in 2026). */
export const PUT_EVENTS_MAX_BYTES = 256 * 1024

/** Options of {@link toEventBridge}. */
export interface ToEventBridgeOptions extends Omit<SinkOptions, 'maxBatchBytes'> {
  /** An EventBridge client; give it `maxAttempts: 1` so retries are this sink's, counted in the report. */
  readonly client: Pick<EventBridgeClient, 'send'>
  /** The bus: a name or an ARN. @default 'default' */
  readonly eventBusName?: string
  /** How stored events become EventBridge events (see `toLambda`). @default events must be in EventBridge shape */
  readonly envelope?: Envelope
  /** Account and region for envelope fields the mapping does not give (PutEvents drops both anyway). */
  readonly envelopeDefaults?: EnvelopeDefaults
  /**
   * Marks hydration. PutEvents has no `replay-name` field, so the sink adds `"replay-name"` to the
   * top level of `detail`: rules can leave hydration out with
   * `{ "detail": { "replay-name": [{ "exists": false }] } }`.
   * @default none (the CLI sets `event-hydrator`)
   */
  readonly replayName?: string
  /** Entries per PutEvents request, at most 10. @default 10 */
  readonly batchSize?: number
  /**
   * Total entry size of one request, as AWS computes it (14 bytes for Time, UTF-8 bytes of Source,
   * DetailType, Detail and each resource). An entry above it fails alone with ERR_ITEM_TOO_LARGE.
   * @default 262144 (256 KB; raise to 1048576 where the bus takes 1 MB)
   */
  readonly maxRequestBytes?: number
  /** Retries of throttled or failed entries and requests. @default 8 attempts, 100 ms .. 20 s */
  readonly retry?: RetryPolicy
  /** Checks the bus exists (DescribeEventBus) before reading any event. @default true */
  readonly checkBus?: boolean
  /** At most this many entries sent per second (retries included), on average. @default unlimited */
  readonly ratePerSecond?: number
}

/** One prepared entry with its size. */
interface Prepared {
  readonly entry: PutEventsRequestEntry
  readonly size: number
  readonly id: unknown
}

/** The size of a PutEvents entry, computed as AWS documents it. */
export function putEventsEntrySize(entry: PutEventsRequestEntry): number {
  let size = entry.Time ? 14 : 0
  size += Buffer.byteLength(entry.Source ?? '') + Buffer.byteLength(entry.DetailType ?? '')
  if (entry.Detail) size += Buffer.byteLength(entry.Detail)
  for (const r of entry.Resources ?? []) if (r) size += Buffer.byteLength(r)
  return size
}

/** Entry error codes AWS lists as retryable (plus InternalException, seen in the wild). */
const RETRYABLE_ENTRY_CODES = new Set(['ThrottlingException', 'InternalFailure', 'InternalException', 'ServiceUnavailable'])

/** Splits entries into requests of at most `maxEntries` and `maxBytes`, keeping their order. */
export function chunkEntries<T extends { size: number }>(items: readonly T[], maxEntries: number, maxBytes: number): T[][] {
  const chunks: T[][] = []
  let current: T[] = []
  let bytes = 0
  for (const item of items) {
    if (current.length > 0 && (current.length >= maxEntries || bytes + item.size > maxBytes)) {
      chunks.push(current)
      current = []
      bytes = 0
    }
    current.push(item)
    bytes += item.size
  }
  if (current.length > 0) chunks.push(current)
  return chunks
}

/** Builds the PutEvents entry for one EventBridge-shaped payload: pure, tested without a server. */
export function buildPutEventsEntry(payload: unknown, eventBusName: string, replayName: string | undefined): PutEventsRequestEntry {
  const p = payload as Record<string, unknown>
  const source = p.source
  const detailType = p['detail-type']
  if (typeof source !== 'string' || source === '') throw new HydratorError('ERR_MAPPING', 'the event has no `source` string')
  if (typeof detailType !== 'string' || detailType === '') throw new HydratorError('ERR_MAPPING', 'the event has no `detail-type` string')
  let detail = p.detail === undefined ? {} : p.detail
  if (!detail || typeof detail !== 'object' || Array.isArray(detail)) {
    throw new HydratorError('ERR_MAPPING', `EventBridge needs \`detail\` to be a JSON object, got ${Array.isArray(detail) ? 'an array' : typeof detail}`)
  }
  if (replayName) detail = { ...(detail as Record<string, unknown>), 'replay-name': replayName }
  const entry: PutEventsRequestEntry = {
    EventBusName: eventBusName,
    Source: source,
    DetailType: detailType,
    Detail: JSON.stringify(detail),
  }
  if (p.time !== undefined && p.time !== null && p.time !== '') entry.Time = new Date(asTime(p.time))
  if (Array.isArray(p.resources) && p.resources.length > 0) entry.Resources = p.resources.map(String)
  return entry
}

/** Thrown inside the retry loop while some entries still failed with a retryable code. */
class EntriesFailed extends Error {
  constructor(
    readonly reason: string,
    /** Some entry failed with ThrottlingException (a FailedEntryCount of throttled entries). */
    readonly throttled = false,
  ) {
    super(`entries failed with ${reason}`)
    this.name = reason
  }
}

/**
 * Puts events onto an EventBridge bus with PutEvents, in requests of at most 10 entries and 256 KB
 * (entry sizes computed as AWS documents). Keeps `source`, `detail-type`, `detail` (sent as JSON
 * text), `time` and `resources`; EventBridge gives each event a new `id`, and `account` and
 * `region` are the caller's. Entries that fail with a retryable code (ThrottlingException,
 * InternalFailure) are sent again on their own (not the whole request) with backoff, then reported
 * with their ErrorCode and ErrorMessage (ERR_RETRIES_EXHAUSTED); other entry errors fail their
 * event at once (ERR_WRITE_REJECTED). A missing bus fails at open (ERR_TARGET_NOT_FOUND).
 * EventBridge does not keep order when it delivers to targets: use `toLambda` where order matters.
 *
 * @example
 * const client = new EventBridgeClient({ region: 'eu-west-1', maxAttempts: 1 })
 * await pipe(readJsonLines('events.ndjson'), toEventBridge({ client, eventBusName: 'orders', replayName: 'rebuild-2024-06' }))
 */
export function toEventBridge(options: ToEventBridgeOptions): Sink<unknown> {
  if (!options || typeof options.client?.send !== 'function') {
    throw new HydratorError('ERR_INVALID_OPTION', 'expected `client` to be an EventBridge client (an object with `send`)')
  }
  const eventBusName = assertString('eventBusName', options.eventBusName ?? 'default')
  const batchSize = assertInteger('batchSize', options.batchSize ?? PUT_EVENTS_MAX_ENTRIES, 1, PUT_EVENTS_MAX_ENTRIES)
  const maxRequestBytes = assertInteger('maxRequestBytes', options.maxRequestBytes ?? PUT_EVENTS_MAX_BYTES, 1)
  if (options.replayName !== undefined && options.replayName !== '') assertString('replayName', options.replayName)
  if (options.envelope !== undefined && typeof options.envelope !== 'function') validateEnvelope(options.envelope)
  validateRetryPolicy(options.retry)
  if (options.ratePerSecond !== undefined) tokenBucket(options.ratePerSecond)
  const replayName = options.replayName || undefined
  const toPayload = compileEnvelope(options.envelope, options.envelopeDefaults)
  const { client } = options
  let sdk: typeof import('@aws-sdk/client-eventbridge') | undefined
  const what = `event bus \`${eventBusName}\``
  const loadSdk = async () => (sdk ??= await import('@aws-sdk/client-eventbridge'))

  const putChunk = async (chunk: readonly Prepared[], context: DriverContext, bucket: TokenBucket | undefined): Promise<WriteOutcome[]> => {
    const { PutEventsCommand } = await loadSdk()
    const outcomes: (WriteOutcome | undefined)[] = new Array(chunk.length)
    const lastError = new Map<number, PutEventsResultEntry>()
    let pending = chunk.map((_, i) => i)
    let attempts = 0
    try {
      await withRetry(
        async (attempt) => {
          attempts = attempt
          for (const i of pending) lastError.delete(i)
          if (bucket) for (let n = 0; n < pending.length; n++) await bucket.acquire(context.signal)
          const output = await client.send(new PutEventsCommand({ Entries: pending.map((i) => chunk[i]!.entry) }))
          const results = output.Entries ?? []
          const retry: number[] = []
          pending.forEach((i, j) => {
            const r = results[j]
            if (r?.EventId && !r.ErrorCode) {
              outcomes[i] = { status: 'written', key: r.EventId, attempts }
            } else if (r?.ErrorCode && RETRYABLE_ENTRY_CODES.has(r.ErrorCode)) {
              lastError.set(i, r)
              retry.push(i)
            } else {
              outcomes[i] = {
                status: 'failed',
                code: 'ERR_WRITE_REJECTED',
                message: `${r?.ErrorCode ?? 'NoResult'}: ${r?.ErrorMessage ?? 'EventBridge gave no result for this entry'}`,
                key: chunk[i]!.id,
                attempts,
              }
            }
          })
          pending = retry
          if (pending.length > 0) {
            const throttled = pending.some((i) => lastError.get(i)!.ErrorCode === 'ThrottlingException')
            throw new EntriesFailed(throttled ? 'ThrottlingException' : lastError.get(pending[0]!)!.ErrorCode!, throttled)
          }
        },
        options.retry,
        {
          isRetryable: (error) => error instanceof EntriesFailed || isRetryableAwsError(error),
          onRetry: (reason) => context.retried(reason),
          signal: context.signal,
          isThrottle: (error) => (error instanceof EntriesFailed ? error.throttled : isAwsThrottle(error)),
          throttle: context.throttle,
        },
      )
    } catch (error) {
      const config = awsConfigError(error, what)
      if (config) throw config
      const aborted = context.signal?.aborted
      for (const i of pending) {
        const entryError = lastError.get(i)
        const name = entryError?.ErrorCode ?? awsErrorName(error) ?? 'Error'
        const message = entryError?.ErrorMessage ?? errorMessage(error)
        const retryable = error instanceof EntriesFailed || isRetryableAwsError(error)
        outcomes[i] = {
          status: 'failed',
          code: aborted ? 'ERR_ABORTED' : retryable ? 'ERR_RETRIES_EXHAUSTED' : 'ERR_WRITE_REJECTED',
          message: `${name}: ${message}${retryable && !aborted ? ` (after ${attempts} attempts)` : ''}`,
          key: chunk[i]!.id,
          attempts,
        }
      }
    }
    return outcomes as WriteOutcome[]
  }

  // The token bucket belongs to one run: a sink function may be called more than once.
  const build = (bucket: TokenBucket | undefined) =>
    defineSink<unknown, Prepared>(
      {
        uri: `eventbridge:${eventBusName}`,
        async open(context) {
          const { DescribeEventBusCommand } = await loadSdk()
          if (options.checkBus === false) return
          try {
            await withRetry(() => client.send(new DescribeEventBusCommand({ Name: eventBusName })), options.retry, {
              isRetryable: isRetryableAwsError,
              signal: context.signal,
            })
          } catch (error) {
            const config = awsConfigError(error, what)
            // PutEvents needs events:PutEvents only; without events:DescribeEventBus the check is skipped.
            if (config?.code === 'ERR_AUTH' && awsErrorName(error) === 'AccessDeniedException') return
            if (config) throw config
            throw new HydratorError('ERR_CONNECTION', `cannot reach ${what}: ${errorMessage(error)}`, { cause: error })
          }
        },
        prepare(event) {
          const payload = toPayload(event)
          const entry = buildPutEventsEntry(payload, eventBusName, replayName)
          const size = putEventsEntrySize(entry)
          const id = (payload as { id?: unknown }).id
          if (size > maxRequestBytes) {
            throw new HydratorError('ERR_ITEM_TOO_LARGE', `entry of event ${JSON.stringify(id) ?? ''} is ${size} bytes, over the ${maxRequestBytes}-byte PutEvents limit`)
          }
          return { entry, size, id }
        },
        preview: (prepared) => ({ ...prepared.entry, ...(prepared.entry.Time ? { Time: prepared.entry.Time.toISOString() } : {}) }),
        sizeOf: (prepared) => prepared.size,
        async write(batch, context) {
          const outcomes: WriteOutcome[] = []
          for (const chunk of chunkEntries(batch, batchSize, maxRequestBytes)) outcomes.push(...(await putChunk(chunk, context, bucket)))
          return outcomes
        },
      },
      {
        batchSize,
        concurrency: options.concurrency,
        signal: options.signal,
        previewLimit: options.previewLimit,
      },
    )
  const newBucket = () => (options.ratePerSecond === undefined ? undefined : tokenBucket(options.ratePerSecond))
  build(newBucket()) // checks defineSink's own options now, before any I/O
  const sink = Object.defineProperty(
    function toEventBridgeRun(source: AsyncIterable<unknown>, context?: SinkContext) {
      return build(newBucket())(source, context)
    },
    'uri',
    { value: `eventbridge:${eventBusName}` },
  )
  return withSinkInfo(sink, { pacedPerSecond: options.ratePerSecond, checkpointEveryBatch: true })
}
