import type { EventBridgeClient } from '@aws-sdk/client-eventbridge'
import { parseEnvelopeOption, replayNameFlag } from '../envelope.js'
import { HydratorError } from '../errors.js'
import type { FactoryContext, ParsedUri, Plugin } from '../registry.js'
import { boolParam, checkParams, decodeUriPart } from '../uri.js'
import { arnParts, awsClientConfigFor, awsRequestHandlerOf, loadAwsSdk } from '../util/aws.js'
import { toEventBridge } from './sink.js'

const EVENTBRIDGE_PARAMS = ['region', 'endpoint', 'profile', 'check', 'timeoutMs']

/** `eventbridge:<bus name | bus ARN>?region=&endpoint=&profile=&check=false` (no name: `default`). */
async function eventBridgeSink(uri: ParsedUri, context: FactoryContext) {
  checkParams(uri, EVENTBRIDGE_PARAMS)
  const eventBusName = decodeUriPart(uri, uri.path, 'the bus name') || 'default'
  const config = awsClientConfigFor(uri, context.env, 'eventbridge', eventBusName)
  if (context.orderKey) {
    throw new HydratorError(
      'ERR_USAGE',
      `--order-key does not apply to \`${uri.uri}\`: EventBridge does not keep order when it delivers to targets; use a \`lambda:\` sink where order matters`,
    )
  }
  const envelope = parseEnvelopeOption(context.flags.envelope, context.cwd)
  const options = {
    eventBusName,
    replayName: replayNameFlag(context.flags),
    checkBus: boolParam(uri, 'check', true)!,
    envelopeDefaults: { ...(config.region ? { region: config.region } : {}), ...arnParts(eventBusName) },
    ...(envelope ? { envelope } : {}),
    ...(context.concurrency !== undefined ? { concurrency: context.concurrency } : {}),
    ...(context.batchSize !== undefined ? { batchSize: context.batchSize } : {}),
    ...(context.ratePerSecond !== undefined ? { ratePerSecond: context.ratePerSecond } : {}),
    ...(context.retry ? { retry: context.retry } : {}),
  }
  // Options are checked before the client exists, with a stand-in client.
  toEventBridge({ ...options, client: { send: async () => ({}) } as unknown as EventBridgeClient })
  const sdk = await loadAwsSdk('@aws-sdk/client-eventbridge', () => import('@aws-sdk/client-eventbridge'))
  const client = new sdk.EventBridgeClient({ ...config, maxAttempts: 1, requestHandler: awsRequestHandlerOf(uri, 'eventbridge') })
  context.onClose(() => client.destroy())
  return toEventBridge({ ...options, client })
}

/**
 * The EventBridge plugin: the sink scheme `eventbridge:` (PutEvents onto a bus). The AWS SDK loads
 * only when it is used. Options come from the CLI: --concurrency, --batch-size, --rate, --retry-*,
 * --replay-name, --envelope, --dry-run; --order-key is refused (EventBridge keeps no order).
 *
 * @example
 * registry.register(eventBridgePlugin)
 * await registry.createSink('eventbridge:orders-bus?region=eu-west-1', context)
 */
export const eventBridgePlugin: Plugin = {
  name: 'eventbridge',
  sinks: { eventbridge: eventBridgeSink },
}
