// event-hydrator/lambda: hydrate through the service's code: a deployed Lambda function, or a
// handler module run in this process (needs @aws-sdk/client-lambda for `toLambda`).
export { toLambda, type ToLambdaOptions } from './lambda.js'
export { toLambdaLocal, type ToLambdaLocalOptions, type LambdaHandler, type LambdaLocalContext } from './local.js'
export { lambdaPlugin } from './plugin.js'
export { compileEnvelope, type Envelope, type EnvelopeMapping } from '../envelope.js'
