import type { LambdaClient } from '@aws-sdk/client-lambda'
import { parseEnvelopeOption, replayNameFlag } from '../envelope.js'
import { HydratorError } from '../errors.js'
import type { FactoryContext, ParsedUri, Plugin } from '../registry.js'
import { boolParam, checkParams, decodeUriPart, intParam } from '../uri.js'
import { arnParts, awsClientConfigFor, awsRequestHandlerOf, loadAwsSdk } from '../util/aws.js'
import { toLambda } from './lambda.js'
import { parseHandlerSpec, toLambdaLocal } from './local.js'

const LAMBDA_PARAMS = ['region', 'endpoint', 'profile', 'qualifier', 'check', 'timeoutMs']
const LOCAL_PARAMS = ['timeoutMs', 'functionName', 'region', 'memoryLimitInMB']

/** The options every invocation sink takes from the CLI context. */
function invokeOptions(context: FactoryContext) {
  const envelope = parseEnvelopeOption(context.flags.envelope, context.cwd)
  const maxBuffered = typeof context.flags.maxBuffered === 'number' ? context.flags.maxBuffered : undefined
  return {
    replayName: replayNameFlag(context.flags),
    ...(envelope ? { envelope } : {}),
    ...(context.concurrency !== undefined ? { concurrency: context.concurrency } : {}),
    ...(context.orderKey ? { orderKey: context.orderKey } : {}),
    ...(context.ratePerSecond !== undefined ? { ratePerSecond: context.ratePerSecond } : {}),
    ...(maxBuffered !== undefined ? { maxBuffered } : {}),
    ...(context.retry ? { retry: context.retry } : {}),
  }
}

/** `lambda:<name | name:alias | ARN>?qualifier=&region=&endpoint=&profile=&check=false` */
async function lambdaSink(uri: ParsedUri, context: FactoryContext) {
  checkParams(uri, LAMBDA_PARAMS)
  const functionName = decodeUriPart(uri, uri.path, 'the function name')
  if (!functionName) {
    throw new HydratorError('ERR_INVALID_URI', `\`${uri.uri}\` names no function: use e.g. \`lambda:my-function\` or \`lambda:arn:aws:lambda:eu-west-1:123456789012:function:my-function:live\``)
  }
  const config = awsClientConfigFor(uri, context.env, 'lambda', functionName)
  const options = {
    ...invokeOptions(context),
    functionName,
    ...(uri.params.get('qualifier') ? { qualifier: uri.params.get('qualifier')! } : {}),
    checkFunction: boolParam(uri, 'check', true)!,
    envelopeDefaults: { ...(config.region ? { region: config.region } : {}), ...arnParts(functionName) },
  }
  // Options are checked before the client exists, with a stand-in client.
  toLambda({ ...options, client: { send: async () => ({}) } as unknown as LambdaClient })
  const sdk = await loadAwsSdk('@aws-sdk/client-lambda', () => import('@aws-sdk/client-lambda'))
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

/**
 * The Lambda plugin: sink schemes `lambda:` (invoke a deployed function) and `lambda-local:` (run a
 * handler module in this process). The AWS SDK loads only when `lambda:` is used. Options come from the CLI: --concurrency, --order-key, --rate, --retry-*,
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
  },
}
