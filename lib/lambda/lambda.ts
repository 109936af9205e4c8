import type { InvokeCommandInput, InvokeCommandOutput, LambdaClient } from '@aws-sdk/client-lambda'
import { HydratorError, errorMessage, isConfigError } from '../errors.js'
import { createLanes, defaultMaxBuffered, laneKeyOf, laneKeyValue, type LaneKey, type Lanes } from '../stages/ordered-lanes.js'
import { tokenBucket, type TokenBucket } from '../stages/rate.js'
import type { Sink, SinkContext } from '../types.js'
import { awsConfigError, awsErrorName, isAwsThrottle, isRetryableAwsError } from '../util/aws.js'
import { compileEnvelope, validateEnvelope, withReplayName, type Envelope, type EnvelopeDefaults } from '../envelope.js'
import { compilePath } from '../util/json-path.js'
import { assertInteger, assertString } from '../util/options.js'
import { validateRetryPolicy, withRetry, type RetryPolicy } from '../retry.js'
import { defineSink, withSinkInfo, type DriverContext, type SinkOptions, type WriteOutcome } from '../define-sink.js'
import { PARKED } from '../sink-driver.js'

/** Options shared by {@link toLambda} and `toLambdaLocal`: the payload, its order and its pace. */
export interface InvokeOptions extends Omit<SinkOptions, 'batchSize' | 'maxBatchBytes'> {
  /**
   * How stored events become the EventBridge payload: a mapping of envelope fields to JSON paths
   * and constants, or a transform. Events already in EventBridge shape pass through unchanged.
   * @default none: events must already be in EventBridge shape (others fail with ERR_MAPPING)
   */
  readonly envelope?: Envelope
  /** Account and region for envelope fields the mapping does not give. */
  readonly envelopeDefaults?: EnvelopeDefaults
  /**
   * Marks hydration: sets EventBridge's own `replay-name` field on every payload, as an archive
   * replay does, so handlers can tell hydration from live traffic.
   * @default none (the CLI sets `event-hydrator`)
   */
  readonly replayName?: string
  /** Invocations in flight at once. @default 1 (one at a time, in source order) */
  readonly concurrency?: number
  /**
   * Keeps order per key with `concurrency` > 1: a JSON path (into the event as read, or else into
   * the payload, e.g. `detail.aggregateId`) or a function. Invocations with the same key run one
   * after another in source order; events without a value share one key.
   * @default none: with concurrency > 1, no order between events
   */
  readonly orderKey?: string | ((event: unknown) => unknown)
  /**
   * Events read ahead and waiting for their key or a slot, at most; reading pauses beyond it.
   * @default 4 × concurrency, at least 16
   */
  readonly maxBuffered?: number
  /** At most this many invocation attempts per second (retries included), on average. @default unlimited */
  readonly ratePerSecond?: number
  /** Retries of passing errors (throttling, 5xx, dropped connections). @default 8 attempts, 100 ms .. 20 s */
  readonly retry?: RetryPolicy
}

/** Options of {@link toLambda}. */
export interface ToLambdaOptions extends InvokeOptions {
  /** A Lambda client; give it `maxAttempts: 1` so retries are this sink's, counted in the report. */
  readonly client: Pick<LambdaClient, 'send'>
  /** The function: a name, `name:alias`, a full or partial ARN (with an alias or version). */
  readonly functionName: string
  /** A version or alias, when `functionName` has none. */
  readonly qualifier?: string
  /** Checks the function exists (GetFunctionConfiguration) before reading any event. @default true */
  readonly checkFunction?: boolean
  /** Payloads larger than this fail (ERR_ITEM_TOO_LARGE) without a call. @default 6291456 (Lambda's 6 MB) */
  readonly maxPayloadBytes?: number
}

/** Lambda's limit on a synchronous invocation's request payload. */
export const LAMBDA_MAX_PAYLOAD_BYTES = 6 * 1024 * 1024

/** One prepared invocation. */
export interface Invocation {
  /** The payload as the function receives it. */
  readonly payload: unknown
  /** The payload as JSON text, sent as it is. */
  readonly body: string
  /** Its lane. */
  readonly key: LaneKey
  /** The payload's `id`, for the report. */
  readonly id: unknown
}

/** What invoking once gave: success, or the function's own error. */
export type InvokeResult = { readonly ok: true } | { readonly ok: false; readonly errorType: string; readonly errorMessage: string; readonly kind?: string }

/** The target-specific part of an invocation sink. */
export interface Invoker {
  readonly uri: string
  /** Checks the target (function exists, module loads); throws a config HydratorError. */
  open?(context: DriverContext): Promise<void>
  /** Invokes once. Throws for transport and service errors (retried when `isRetryable`). */
  invoke(invocation: Invocation, context: DriverContext): Promise<InvokeResult>
  /** Passing errors worth another attempt. */
  isRetryable(error: unknown): boolean
  /** Throttling among them (the target is over its capacity), for `--rate auto`. @default none */
  isThrottle?(error: unknown): boolean
  /** A service error as a config error (missing function, no permission), or undefined. */
  configError?(error: unknown): HydratorError | undefined
  /** A service error that fails only its event, with its code (e.g. ERR_ITEM_TOO_LARGE). */
  eventErrorCode?(error: unknown): string | undefined
  /** The largest payload the target takes. */
  readonly maxPayloadBytes?: number
  close?(): Promise<void>
}

const MAX_MESSAGE = 500

function clip(text: string): string {
  return text.length > MAX_MESSAGE ? `${text.slice(0, MAX_MESSAGE)}…` : text
}

/** Validates the options every invocation sink shares; throws ERR_INVALID_OPTION naming the value. */
export function validateInvokeOptions(options: InvokeOptions): void {
  assertInteger('concurrency', options.concurrency ?? 1, 1)
  if (options.maxBuffered !== undefined) assertInteger('maxBuffered', options.maxBuffered, 1)
  if (options.ratePerSecond !== undefined) tokenBucket(options.ratePerSecond)
  if (options.replayName !== undefined && options.replayName !== '') assertString('replayName', options.replayName)
  if (options.envelope !== undefined && typeof options.envelope !== 'function') validateEnvelope(options.envelope)
  if (typeof options.orderKey === 'string') compilePath(options.orderKey)
  else if (options.orderKey !== undefined && typeof options.orderKey !== 'function') {
    throw new HydratorError('ERR_INVALID_OPTION', `expected \`orderKey\` to be a JSON path or a function, got \`${typeof options.orderKey}\``)
  }
  validateRetryPolicy(options.retry)
}

/**
 * Builds a sink that invokes a function once per event, synchronously, with the EventBridge
 * payload. Shared by {@link toLambda} and `toLambdaLocal`: events go through `defineSink` (counts,
 * dry-run previews, failures, abort) one at a time, and a lane scheduler keeps per-key order while
 * up to `concurrency` invocations run.
 */
export function invocationSink(invoker: Invoker, options: InvokeOptions): Sink<unknown> {
  validateInvokeOptions(options)
  const concurrency = options.concurrency ?? 1
  const maxBuffered = options.maxBuffered ?? defaultMaxBuffered(concurrency)
  const toPayload = compileEnvelope(options.envelope, options.envelopeDefaults)
  const replayName = options.replayName || undefined
  const eventKey = options.orderKey === undefined ? undefined : laneKeyOf(options.orderKey)
  const payloadGet = typeof options.orderKey === 'string' ? compilePath(options.orderKey) : undefined
  const maxPayloadBytes = invoker.maxPayloadBytes ?? Infinity
  const retry = options.retry
  const keyOf = (event: unknown, payload: unknown): LaneKey => {
    if (!eventKey) return undefined
    const key = eventKey(event)
    // A path that is missing from the stored event may name a payload field (`detail.aggregateId`).
    if (key === laneKeyValue(undefined) && payloadGet) return laneKeyValue(payloadGet(payload))
    return key
  }

  const attempt = async (run: RunState, invocation: Invocation, context: DriverContext): Promise<WriteOutcome> => {
    let attempts = 0
    try {
      // withRetry keeps an attempt's result even if p-retry rejects after it (a signal meanwhile).
      const result = await withRetry(
        async (n) => {
          attempts = n
          if (run.bucket) await run.bucket.acquire(context.signal)
          return invoker.invoke(invocation, context)
        },
        retry,
        {
          isRetryable: (e) => invoker.isRetryable(e),
          onRetry: (reason) => context.retried(reason),
          signal: context.signal,
          ...(invoker.isThrottle ? { isThrottle: (e: unknown) => invoker.isThrottle!(e), throttle: context.throttle } : {}),
        },
      )
      if (result.ok) return { status: 'written', key: invocation.id, attempts }
      return {
        status: 'failed',
        code: 'ERR_FUNCTION_ERROR',
        message: clip(`${result.kind ? `${result.kind}: ` : ''}${result.errorType}: ${result.errorMessage}`),
        key: invocation.id,
        attempts,
      }
    } catch (error) {
      const config = invoker.configError?.(error) ?? (isConfigError(error) ? (error as HydratorError) : undefined)
      if (config) {
        // Every waiting event would meet the same error: fail them now instead of calling again.
        run.lanes.clear(config)
        throw config
      }
      const name = awsErrorName(error) ?? (error as { code?: string })?.code ?? 'Error'
      const message = clip(`${name}: ${errorMessage(error)}`)
      if (context.signal?.aborted) return { status: 'failed', code: 'ERR_ABORTED', message, key: invocation.id, attempts }
      const eventCode = invoker.eventErrorCode?.(error)
      if (eventCode) return { status: 'failed', code: eventCode, message, key: invocation.id, attempts }
      if (invoker.isRetryable(error)) {
        return { status: 'failed', code: 'ERR_RETRIES_EXHAUSTED', message: `${message} (after ${attempts} attempts)`, key: invocation.id, attempts }
      }
      return { status: 'failed', code: 'ERR_WRITE_REJECTED', message, key: invocation.id, attempts }
    }
  }

  // Lanes and the token bucket belong to one run: a sink function may be called more than once.
  const build = (run: RunState) =>
    defineSink<unknown, Invocation>(
      {
        uri: invoker.uri,
        open: async (context) => invoker.open?.(context),
        prepare(event) {
          const payload = withReplayName(toPayload(event), replayName)
          let body: string | undefined
          try {
            body = JSON.stringify(payload)
          } catch (error) {
            throw new HydratorError('ERR_MAPPING', `the payload cannot be written as JSON: ${errorMessage(error)}`)
          }
          if (body === undefined) throw new HydratorError('ERR_MAPPING', 'the payload cannot be written as JSON')
          const id = (payload as { id?: unknown }).id
          if (maxPayloadBytes !== Infinity && Buffer.byteLength(body) > maxPayloadBytes) {
            throw new HydratorError(
              'ERR_ITEM_TOO_LARGE',
              `payload of event ${JSON.stringify(id) ?? ''} is ${Buffer.byteLength(body)} bytes, over the ${maxPayloadBytes}-byte limit`,
            )
          }
          return { payload, body, key: keyOf(event, payload), id }
        },
        preview: (invocation) => invocation.payload,
        // One event per write: defineSink admits up to concurrency + maxBuffered of them, the lanes
        // start them in per-key order. The lane is joined synchronously, in source order.
        write(batch, context) {
          const parking = context.parking
          if (!parking) return Promise.all(batch.map((invocation) => run.lanes.run(invocation.key, () => attempt(run, invocation, context))))
          // Parking: decided as the lane starts the invocation, after the one before it of its key ended.
          return Promise.all(
            batch.map((invocation, i) =>
              run.lanes.run(invocation.key, async (): Promise<WriteOutcome> => {
                if (parking.parked(i)) return PARKED
                const outcome = await attempt(run, invocation, context)
                if (outcome.status === 'failed') parking.failed(i)
                return outcome
              }),
            ),
          )
        },
        // The lanes keep each key's order: parking uses their key and asks before each invocation.
        orderKeyOf: (invocation) => invocation.key,
        close: () => invoker.close?.() ?? Promise.resolve(),
      },
      {
        batchSize: 1,
        concurrency: concurrency + maxBuffered,
        signal: options.signal,
        previewLimit: options.previewLimit,
      },
    )
  const newRun = (): RunState => ({
    lanes: createLanes({ concurrency }),
    bucket: options.ratePerSecond === undefined ? undefined : tokenBucket(options.ratePerSecond),
  })
  build(newRun()) // checks defineSink's own options now, before any I/O
  const sink = Object.defineProperty(
    function invocationSinkRun(source: AsyncIterable<unknown>, context?: SinkContext) {
      return build(newRun())(source, context)
    },
    'uri',
    { value: invoker.uri },
  )
  return withSinkInfo(
    sink,
    { pacedPerSecond: options.ratePerSecond, checkpointEveryBatch: true },
  )
}


/** What one run of an invocation sink keeps. */
interface RunState {
  readonly lanes: Lanes
  readonly bucket: TokenBucket | undefined
}

const LAMBDA_RETRYABLE = new Set([
  'TooManyRequestsException',
  'EC2ThrottledException',
  'EC2UnexpectedException',
  'ServiceException',
  'ResourceConflictException',
  'ResourceNotReadyException',
  'SnapStartNotReadyException',
  'SnapStartTimeoutException',
])

/** True for Lambda errors worth another attempt: throttles, 5xx, a function not ready, dropped connections. */
export function isRetryableLambdaError(error: unknown): boolean {
  const name = awsErrorName(error)
  if (name && LAMBDA_RETRYABLE.has(name)) return true
  if (name === 'RequestTooLargeException') return false
  return isRetryableAwsError(error)
}


/** The Invoke request for one payload: pure, so it is tested without a server. */
export function buildInvokeInput(functionName: string, qualifier: string | undefined, body: string): InvokeCommandInput {
  return {
    FunctionName: functionName,
    InvocationType: 'RequestResponse',
    Payload: Buffer.from(body, 'utf8'),
    ...(qualifier ? { Qualifier: qualifier } : {}),
  }
}

/** Reads an Invoke response: success, or the function error with its type and message. */
export function readInvokeOutput(output: Pick<InvokeCommandOutput, 'FunctionError' | 'Payload'>): InvokeResult {
  if (!output.FunctionError) return { ok: true }
  let errorType = 'Error'
  let message = ''
  const text = output.Payload ? Buffer.from(output.Payload).toString('utf8') : ''
  try {
    const parsed = JSON.parse(text) as { errorType?: unknown; errorMessage?: unknown }
    if (typeof parsed?.errorType === 'string') errorType = parsed.errorType
    if (parsed?.errorMessage !== undefined) message = String(parsed.errorMessage)
  } catch {
    message = text
  }
  return { ok: false, kind: output.FunctionError, errorType, errorMessage: message || '(no message)' }
}

/**
 * Invokes a Lambda function once per event, synchronously (RequestResponse), with the payload the
 * function would get from an EventBridge rule. Events already in EventBridge shape are sent
 * unchanged, others through `envelope`. By default one invocation at a time in source order; with
 * `concurrency` and `orderKey`, events with the same key still run strictly one after another in
 * source order while other keys run in parallel. A function error (Handled or Unhandled) fails its
 * event with ERR_FUNCTION_ERROR and the function's error type and message; throttling, 5xx and
 * dropped connections are retried with backoff (then ERR_RETRIES_EXHAUSTED); a payload Lambda
 * rejects as too large fails only its event (ERR_ITEM_TOO_LARGE). A missing function fails at open
 * (ERR_TARGET_NOT_FOUND) before any event is read. Delivery is at least once: a handler may see an
 * event again after a dropped connection, so handlers must be idempotent.
 *
 * @example
 * const client = new LambdaClient({ region: 'eu-west-1', maxAttempts: 1 })
 * await pipe(readJsonLines('events.ndjson'), toLambda({ client, functionName: 'orders-projector:live',
 *   concurrency: 16, orderKey: 'detail.orderId', replayName: 'rebuild-2024-06' }))
 */
export function toLambda(options: ToLambdaOptions): Sink<unknown> {
  if (!options || typeof options.client?.send !== 'function') {
    throw new HydratorError('ERR_INVALID_OPTION', 'expected `client` to be a Lambda client (an object with `send`)')
  }
  const functionName = assertString('functionName', options.functionName)
  const qualifier = options.qualifier || undefined
  if (qualifier !== undefined && !/^(\$LATEST|[A-Za-z0-9$_-]{1,128})$/.test(qualifier)) {
    throw new HydratorError('ERR_INVALID_OPTION', `expected \`qualifier\` to be a version or alias, got \`${qualifier}\``)
  }
  const maxPayloadBytes = assertInteger('maxPayloadBytes', options.maxPayloadBytes ?? LAMBDA_MAX_PAYLOAD_BYTES, 1)
  const { client } = options
  let sdk: typeof import('@aws-sdk/client-lambda') | undefined
  const uri = `lambda:${functionName}${qualifier ? `?qualifier=${qualifier}` : ''}`
  const what = `Lambda function \`${functionName}${qualifier ? `:${qualifier}` : ''}\``

  return invocationSink(
    {
      uri,
      maxPayloadBytes,
      async open(context) {
        sdk ??= await import('@aws-sdk/client-lambda')
        if (options.checkFunction === false) return
        try {
          await withRetry(
            () => client.send(new sdk!.GetFunctionConfigurationCommand({ FunctionName: functionName, ...(qualifier ? { Qualifier: qualifier } : {}) })),
            options.retry,
            { isRetryable: isRetryableLambdaError, signal: context.signal },
          )
        } catch (error) {
          const config = awsConfigError(error, what)
          // Invoking needs lambda:InvokeFunction only; without lambda:GetFunctionConfiguration the check is skipped.
          if (config?.code === 'ERR_AUTH' && awsErrorName(error) === 'AccessDeniedException') return
          if (config) throw config
          throw new HydratorError('ERR_CONNECTION', `cannot reach ${what}: ${errorMessage(error)}`, { cause: error })
        }
      },
      async invoke(invocation) {
        sdk ??= await import('@aws-sdk/client-lambda')
        const output = await client.send(new sdk.InvokeCommand(buildInvokeInput(functionName, qualifier, invocation.body)))
        return readInvokeOutput(output)
      },
      isRetryable: isRetryableLambdaError,
      isThrottle: isAwsThrottle,
      configError: (error) => awsConfigError(error, what),
      eventErrorCode: (error) => (awsErrorName(error) === 'RequestTooLargeException' ? 'ERR_ITEM_TOO_LARGE' : undefined),
    },
    options,
  )
}
