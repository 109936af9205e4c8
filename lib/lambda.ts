// event-hydrator/lambda: hydrate through the service's code: Lambda, local handlers, EventBridge
// (needs @aws-sdk/client-lambda or @aws-sdk/client-eventbridge).
export { toLambda, type ToLambdaOptions } from './sinks/to-lambda.js'
export { toLambdaLocal, type ToLambdaLocalOptions, type LambdaHandler, type LambdaLocalContext } from './sinks/to-lambda-local.js'
export { toEventBridge, type ToEventBridgeOptions } from './sinks/to-event-bridge.js'
export { compileEnvelope, type Envelope, type EnvelopeMapping } from './util/envelope.js'
