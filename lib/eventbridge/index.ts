// event-hydrator/eventbridge: replay events onto an EventBridge bus (needs @aws-sdk/client-eventbridge).
export { toEventBridge, type ToEventBridgeOptions } from './sink.js'
export { eventBridgePlugin } from './plugin.js'
export { compileEnvelope, type Envelope, type EnvelopeMapping } from '../envelope.js'
