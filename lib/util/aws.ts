import { isNetworkError } from '../retry.js'
import { HydratorError } from '../errors.js'
import type { ParsedUri } from '../registry.js'
import { intParam } from '../uri.js'

/** The AWS services event-hydrator talks to. */
export type AwsService = 'dynamodb' | 'lambda' | 'eventbridge'

/** The part of an AWS SDK v3 client configuration that a URI and the environment decide. */
export interface AwsClientConfig {
  /** e.g. `eu-west-1`; left out when unknown, so the SDK's own chain (profile files) decides. */
  region?: string
  /** A custom endpoint (a local server, a VPC endpoint); left out for the service default. */
  endpoint?: string
  /** A profile of the shared config files (`?profile=` or AWS_PROFILE). */
  profile?: string
  /** Static credentials, only when the given environment holds both key parts. */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string }
}

// The service part of AWS_ENDPOINT_URL_<SERVICE>, as the SDKs spell it (the service id upper-cased).
const ENDPOINT_ENV: Record<AwsService, string> = {
  dynamodb: 'AWS_ENDPOINT_URL_DYNAMODB',
  lambda: 'AWS_ENDPOINT_URL_LAMBDA',
  eventbridge: 'AWS_ENDPOINT_URL_EVENTBRIDGE',
}

/**
 * Builds an AWS SDK v3 client configuration from a URI's `?region=`, `?endpoint=` and `?profile=`
 * and the given environment (AWS_REGION, AWS_DEFAULT_REGION, AWS_ENDPOINT_URL_<SERVICE>,
 * AWS_ENDPOINT_URL, AWS_PROFILE, AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN).
 * URI parameters win over the environment; whatever neither gives is left to the SDK's default
 * chains (shared config files, instance roles). Only the CLI calls this: the library functions take
 * ready clients. Throws ERR_INVALID_URI for an endpoint that is not an http(s) URL.
 *
 * @example
 * const config = awsClientConfig(parseUri('dynamo:events?region=eu-west-1'), process.env, 'dynamodb')
 * const client = new DynamoDBClient(config)
 */
export function awsClientConfig(
  uri: ParsedUri,
  env: Readonly<Record<string, string | undefined>>,
  service: AwsService,
): AwsClientConfig {
  const config: AwsClientConfig = {}
  const region = uri.params.get('region') || env.AWS_REGION || env.AWS_DEFAULT_REGION
  if (region) config.region = region

  const ignoreEnvEndpoints = (env.AWS_IGNORE_CONFIGURED_ENDPOINT_URLS ?? '').toLowerCase() === 'true'
  const endpoint =
    uri.params.get('endpoint') || (ignoreEnvEndpoints ? undefined : env[ENDPOINT_ENV[service]] || env.AWS_ENDPOINT_URL)
  if (endpoint) {
    let parsed: URL
    try {
      parsed = new URL(endpoint)
    } catch {
      throw new HydratorError('ERR_INVALID_URI', `expected \`endpoint\` to be an http(s) URL, got \`${endpoint}\``)
    }
    if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') {
      throw new HydratorError('ERR_INVALID_URI', `expected \`endpoint\` to be an http(s) URL, got \`${endpoint}\``)
    }
    config.endpoint = endpoint
  }

  const profile = uri.params.get('profile') || env.AWS_PROFILE
  if (profile) config.profile = profile

  // Only when the caller's environment has both parts; otherwise the SDK's chain looks for them.
  if (!uri.params.get('profile') && env.AWS_ACCESS_KEY_ID && env.AWS_SECRET_ACCESS_KEY) {
    config.credentials = {
      accessKeyId: env.AWS_ACCESS_KEY_ID,
      secretAccessKey: env.AWS_SECRET_ACCESS_KEY,
      ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}),
    }
  }
  return config
}

/**
 * A synchronous Lambda invocation answers when the function returns, after at most 15 minutes
 * (Lambda's longest timeout): a request is only hung a little after that.
 */
const DEFAULT_REQUEST_TIMEOUT_MS: Record<AwsService, number> = { dynamodb: 60_000, eventbridge: 60_000, lambda: 15 * 60_000 + 30_000 }

/**
 * The `requestHandler` of a client the CLI builds for `service` from a URI: `?timeoutMs=`, else the
 * service's default (60 s; Lambda 15.5 min).
 */
/** Region and account named by an ARN (`arn:aws:lambda:eu-west-1:123456789012:function:f`). */
export function arnParts(name: string): { region?: string; account?: string } {
  const m = /^arn:aws[a-z-]*:[a-z]+:([a-z0-9-]*):(\d{12})?:/.exec(name)
  if (!m) return {}
  return { ...(m[1] ? { region: m[1] } : {}), ...(m[2] ? { account: m[2] } : {}) }
}

/** {@link awsClientConfig} for a target given by name or ARN: an ARN's region is where it lives, unless `?region=` says otherwise. */
export function awsClientConfigFor(
  uri: ParsedUri,
  env: Readonly<Record<string, string | undefined>>,
  service: AwsService,
  target: string,
): AwsClientConfig {
  const config = awsClientConfig(uri, env, service)
  const { region } = arnParts(target)
  if (region && !uri.params.get('region')) config.region = region
  return config
}

/** Imports an AWS SDK package for a scheme; ERR_PLUGIN saying what to install when it is missing. */
export async function loadAwsSdk<T>(name: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load()
  } catch (error) {
    throw new HydratorError('ERR_PLUGIN', `this scheme needs ${name}: npm install ${name}`, { cause: error })
  }
}

export function awsRequestHandlerOf(uri: ParsedUri, service: AwsService): ReturnType<typeof awsRequestHandler> {
  return awsRequestHandler({ requestTimeoutMs: intParam(uri, 'timeoutMs', 1) ?? DEFAULT_REQUEST_TIMEOUT_MS[service] })
}

/** How long an SDK client the CLI builds waits before it gives up on a request. */
export interface AwsTimeouts {
  /** Connecting to the service. @default 10000 */
  readonly connectionTimeoutMs?: number
  /** A whole request, answer included. @default 60000 */
  readonly requestTimeoutMs?: number
}

/**
 * The `requestHandler` options that keep an AWS SDK v3 client from waiting forever on a request
 * that hangs: it fails with a TimeoutError, which the sinks retry like a dropped connection. The
 * SDK has no timeout by default, and recent versions only log a warning when `requestTimeout`
 * passes unless `throwOnRequestTimeout` is set (older ones ignore the flag and use
 * `requestTimeout` as an idle timeout, which throws too). Only the CLI calls this.
 *
 * @example
 * const client = new EventBridgeClient({ ...config, maxAttempts: 1, requestHandler: awsRequestHandler() })
 */
export function awsRequestHandler(timeouts: AwsTimeouts = {}): { connectionTimeout: number; requestTimeout: number; throwOnRequestTimeout: true } {
  return {
    connectionTimeout: timeouts.connectionTimeoutMs ?? 10_000,
    requestTimeout: timeouts.requestTimeoutMs ?? 60_000,
    throwOnRequestTimeout: true,
  }
}

/** The AWS error name of a thrown SDK error (`ThrottlingException`), or undefined. */
export function awsErrorName(error: unknown): string | undefined {
  const e = error as { name?: unknown; __type?: unknown } | null
  if (!e || typeof e !== 'object') return undefined
  if (typeof e.name === 'string' && e.name !== 'Error') return e.name
  return undefined
}

/** The HTTP status of a thrown SDK error, when it got a response. */
export function awsHttpStatus(error: unknown): number | undefined {
  return (error as { $metadata?: { httpStatusCode?: number } } | null)?.$metadata?.httpStatusCode
}

const THROTTLE_NAMES = new Set([
  'ProvisionedThroughputExceededException',
  'ThrottlingException',
  'Throttling',
  'ThrottledException',
  'RequestLimitExceeded',
  'TooManyRequestsException',
  'RequestThrottled',
  'RequestThrottledException',
  'SlowDown',
  'LimitExceededException',
  'TransactionInProgressException',
  'InternalServerError',
  'InternalFailure',
  'ServiceUnavailable',
  'ServiceUnavailableException',
  'TimeoutError',
  'RequestTimeout',
  'RequestTimeoutException',
])


/**
 * The AWS SDKs' own list of throttling error names (smithy `THROTTLING_ERROR_CODES`, which the
 * adaptive retry mode's rate limiter reacts to), DynamoDB's ProvisionedThroughputExceededException
 * and RequestLimitExceeded among them.
 */
const AWS_THROTTLE_NAMES: ReadonlySet<string> = new Set([
  'BandwidthLimitExceeded',
  'EC2ThrottledException',
  'LimitExceededException',
  'PriorRequestNotComplete',
  'ProvisionedThroughputExceededException',
  'RequestLimitExceeded',
  'RequestThrottled',
  'RequestThrottledException',
  'SlowDown',
  'ThrottledException',
  'Throttling',
  'ThrottlingException',
  'TooManyRequestsException',
  'TransactionInProgressException',
])

/**
 * True for an AWS error that says the service is over its capacity (`--rate auto` backs off): a
 * throttling error name as the AWS SDKs classify them, or an HTTP 429. A 5xx or a dropped
 * connection is retried but is not throttling.
 */
export function isAwsThrottle(error: unknown): boolean {
  const name = awsErrorName(error)
  if (name && AWS_THROTTLE_NAMES.has(name)) return true
  if (awsHttpStatus(error) === 429) return true
  return Boolean((error as { $retryable?: { throttling?: boolean } } | null)?.$retryable?.throttling)
}

/**
 * True for an AWS error worth retrying: throttling, a 5xx, a timeout or a dropped connection.
 * Validation, conditional-check and permission errors are final.
 */
export function isRetryableAwsError(error: unknown): boolean {
  if (!error || typeof error !== 'object') return false
  const e = error as { name?: string; code?: string; $retryable?: unknown; cause?: unknown }
  if (e.name && THROTTLE_NAMES.has(e.name)) return true
  if (isNetworkError(error)) return true
  const status = awsHttpStatus(error)
  if (status !== undefined && (status >= 500 || status === 429)) return true
  if (e.$retryable) return true
  // A dropped socket surfaces as a plain error with the system code on its cause.
  if (e.cause && e.cause !== error) return isRetryableAwsError(e.cause)
  return false
}

/**
 * Maps an error of a call to a service to a configuration error when it is one: a missing resource
 * (ERR_TARGET_NOT_FOUND), refused credentials (ERR_AUTH), and, with `opening` (the first call, such
 * as DescribeTable, made with nothing but the configuration), a ValidationException: the service
 * refused a name or option (ERR_INVALID_OPTION). Later, a ValidationException is about one item.
 */
export function awsConfigError(error: unknown, what: string, { opening = false }: { readonly opening?: boolean } = {}): HydratorError | undefined {
  const name = awsErrorName(error)
  if (name === 'ResourceNotFoundException') {
    return new HydratorError('ERR_TARGET_NOT_FOUND', `${what} does not exist (${name})`, { cause: error })
  }
  if (opening && name === 'ValidationException') {
    return new HydratorError('ERR_INVALID_OPTION', `${what} was refused: ${name}: ${(error as Error).message}`, { cause: error })
  }
  if (
    name === 'AccessDeniedException' ||
    name === 'UnrecognizedClientException' ||
    name === 'InvalidSignatureException' ||
    name === 'ExpiredTokenException' ||
    name === 'MissingAuthenticationTokenException' ||
    name === 'CredentialsProviderError' ||
    name === 'IncompleteSignatureException'
  ) {
    return new HydratorError('ERR_AUTH', `not allowed to use ${what}: ${name}: ${(error as Error).message}`, { cause: error })
  }
  return undefined
}
