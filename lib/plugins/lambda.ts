import type { EventBridgeClient } from '@aws-sdk/client-eventbridge'
import type { LambdaClient } from '@aws-sdk/client-lambda'
import { HydratorError } from '../errors.js'
import { toEventBridge } from '../sinks/to-event-bridge.js'
import { toLambda } from '../sinks/to-lambda.js'
import { parseHandlerSpec, toLambdaLocal } from '../sinks/to-lambda-local.js'
import { awsClientConfig, awsRequestHandlerOf, type AwsClientConfig } from '../util/aws.js'
import { parseEnvelopeOption } from '../util/envelope.js'
import type { FactoryContext, ParsedUri, Plugin } from './registry.js'
import { boolParam, checkParams, decodeUriPart, intParam } from './uri-params.js'

/** The `replay-name` the CLI puts on hydration events unless told otherwise (`--replay-name ''`). */
export const DEFAULT_REPLAY_NAME = 'event-hydrator'

const LAMBDA_PARAMS = ['region', 'endpoint', 'profile', 'qualifier', 'check', 'timeoutMs']
const LOCAL_PARAMS = ['timeoutMs', 'functionName', 'region', 'memoryLimitInMB']
const EVENTBRIDGE_PARAMS = ['region', 'endpoint', 'profile', 'check', 'timeoutMs']

/**
 * The replay name from `--replay-name`: the default when not given, none for `''` or
 * `--no-replay-name`.
 */
export function replayNameFlag(flags: Readonly<Record<string, unknown>>): string | undefined {
  const value = flags.replayName ?? flags['replay-name']
  if (value === undefined || value === null || value === true) return DEFAULT_REPLAY_NAME
  if (value === false || value === '') return undefined
  if (typeof value !== 'string') {
    throw new HydratorError('ERR_INVALID_OPTION', `expected \`--replay-name\` to be a name, got \`${String(value)}\``)
  }
  return value
}

function numberFlag(flags: Readonly<Record<string, unknown>>, ...names: string[]): number | undefined {
  for (const name of names) {
    const v = flags[name]
    if (typeof v === 'number' && Number.isFinite(v)) return v
  }
  return undefined
}

/** The options every invocation sink takes from the CLI context. */
function invokeOptions(context: FactoryContext) {
  const envelope = parseEnvelopeOption(context.flags.envelope, context.cwd)
  const maxBuffered = numberFlag(context.flags, 'maxBuffered', 'max-buffered')
  return {
    dryRun: context.dryRun,
    replayName: replayNameFlag(context.flags),
    ...(envelope ? { envelope } : {}),
    ...(context.concurrency !== undefined ? { concurrency: context.concurrency } : {}),
    ...(context.orderKey ? { orderKey: context.orderKey } : {}),
    ...(context.ratePerSecond !== undefined ? { ratePerSecond: context.ratePerSecond } : {}),
    ...(maxBuffered !== undefined ? { maxBuffered } : {}),
    ...(context.retry ? { retry: context.retry } : {}),
  }
}

/** Region and account named by an ARN (`arn:aws:lambda:eu-west-1:123456789012:function:f`). */
function arnParts(name: string): { region?: string; account?: string } {
  const m = /^arn:aws[a-z-]*:[a-z]+:([a-z0-9-]*):(\d{12})?:/.exec(name)
  if (!m) return {}
  return { ...(m[1] ? { region: m[1] } : {}), ...(m[2] ? { account: m[2] } : {}) }
}

function clientConfig(uri: ParsedUri, context: FactoryContext, service: 'lambda' | 'eventbridge', target: string): AwsClientConfig {
  const config = awsClientConfig(uri, context.env, service)
  // An ARN's region is where the target lives; only an explicit ?region= overrides it.
  const { region } = arnParts(target)
  if (region && !uri.params.get('region')) config.region = region
  return config
}

async function loadSdk<T>(name: string, load: () => Promise<T>): Promise<T> {
  try {
    return await load()
  } catch (error) {
    throw new HydratorError('ERR_PLUGIN', `this scheme needs ${name}: npm install ${name}`, { cause: error })
  }
}

/** `lambda:<name | name:alias | ARN>?qualifier=&region=&endpoint=&profile=&check=false` */
async function lambdaSink(uri: ParsedUri, context: FactoryContext) {
  checkParams(uri, LAMBDA_PARAMS)
  const functionName = decodeUriPart(uri, uri.path, 'the function name')
  if (!functionName) {
    throw new HydratorError('ERR_INVALID_URI', `\`${uri.uri}\` names no function: use e.g. \`lambda:my-function\` or \`lambda:arn:aws:lambda:eu-west-1:123456789012:function:my-function:live\``)
  }
  const config = clientConfig(uri, context, 'lambda', functionName)
  const options = {
    ...invokeOptions(context),
    functionName,
    ...(uri.params.get('qualifier') ? { qualifier: uri.params.get('qualifier')! } : {}),
    checkFunction: boolParam(uri, 'check', true)!,
    envelopeDefaults: { ...(config.region ? { region: config.region } : {}), ...arnParts(functionName) },
  }
  // Options are checked before the client exists, with a stand-in client.
  toLambda({ ...options, client: { send: async () => ({}) } as unknown as LambdaClient })
  const sdk = await loadSdk('@aws-sdk/client-lambda', () => import('@aws-sdk/client-lambda'))
  // event-hydrator retries itself (and counts it in the report), so the SDK makes one attempt; a
  // request that hangs times out and is retried like a dropped connection.
  const client = new sdk.LambdaClient({
    ...config,
    maxAttempts: 1,
    requestHandler: awsRequestHandlerOf(uri, 'lambda'),
  })
  context.onClose(() => client.destroy())
  return toLambda({ ...options, client })
}

/** `lambda-local:<module path>#<export>?timeoutMs=&functionName=&region=&memoryLimitInMB=` */
function lambdaLocalSink(uri: ParsedUri, context: FactoryContext) {
  checkParams(uri, LOCAL_PARAMS)
  const handler = decodeUriPart(uri, uri.path, 'the handler')
  if (!handler) throw new HydratorError('ERR_INVALID_URI', `\`${uri.uri}\` names no handler: use e.g. \`lambda-local:./dist/handler.js#handler\``)
  parseHandlerSpec(handler)
  const region = uri.params.get('region') || context.env.AWS_REGION || context.env.AWS_DEFAULT_REGION || undefined
  const timeoutMs = intParam(uri, 'timeoutMs', 1)
  const memoryLimitInMB = intParam(uri, 'memoryLimitInMB', 1)
  return toLambdaLocal({
    ...invokeOptions(context),
    handler,
    cwd: context.cwd,
    ...(region ? { region } : {}),
    ...(uri.params.get('functionName') ? { functionName: uri.params.get('functionName')! } : {}),
    ...(timeoutMs !== undefined ? { timeoutMs } : {}),
    ...(memoryLimitInMB !== undefined ? { memoryLimitInMB } : {}),
  })
}

/** `eventbridge:<bus name | bus ARN>?region=&endpoint=&profile=&check=false` (no name: `default`). */
async function eventBridgeSink(uri: ParsedUri, context: FactoryContext) {
  checkParams(uri, EVENTBRIDGE_PARAMS)
  const eventBusName = decodeUriPart(uri, uri.path, 'the bus name') || 'default'
  const config = clientConfig(uri, context, 'eventbridge', eventBusName)
  const { concurrency, dryRun, replayName, envelope, retry } = invokeOptions(context)
  if (context.orderKey) {
    throw new HydratorError(
      'ERR_USAGE',
      `--order-key does not apply to \`${uri.uri}\`: EventBridge does not keep order when it delivers to targets; use a \`lambda:\` sink where order matters`,
    )
  }
  const options = {
    eventBusName,
    dryRun,
    replayName,
    checkBus: boolParam(uri, 'check', true)!,
    envelopeDefaults: { ...(config.region ? { region: config.region } : {}), ...arnParts(eventBusName) },
    ...(envelope ? { envelope } : {}),
    ...(concurrency !== undefined ? { concurrency } : {}),
    ...(context.batchSize !== undefined ? { batchSize: context.batchSize } : {}),
    ...(context.ratePerSecond !== undefined ? { ratePerSecond: context.ratePerSecond } : {}),
    ...(retry ? { retry } : {}),
  }
  toEventBridge({ ...options, client: { send: async () => ({}) } as unknown as EventBridgeClient })
  const sdk = await loadSdk('@aws-sdk/client-eventbridge', () => import('@aws-sdk/client-eventbridge'))
  const client = new sdk.EventBridgeClient({ ...config, maxAttempts: 1, requestHandler: awsRequestHandlerOf(uri, 'eventbridge') })
  context.onClose(() => client.destroy())
  return toEventBridge({ ...options, client })
}

/**
 * The Lambda plugin: sink schemes `lambda:` (invoke a deployed function), `lambda-local:` (run a
 * handler module in this process) and `eventbridge:` (put events onto a bus). The AWS SDK loads only
 * when one of them is used. Options come from the CLI: --concurrency, --order-key, --rate, --retry-*,
 * --replay-name (default `event-hydrator`, `''` for none), --envelope (JSON or a JSON file),
 * --max-buffered, --dry-run.
 *
 * @example
 * registry.register(lambdaPlugin)
 * await registry.createSink('lambda:orders-projector?qualifier=live', context)
 */
export const lambdaPlugin: Plugin = {
  name: 'lambda',
  sinks: {
    lambda: lambdaSink,
    'lambda-local': lambdaLocalSink,
    eventbridge: eventBridgeSink,
  },
}
