// event-hydrator/aws-lambda: a Lambda handler that runs a hydration over many invocations, with a
// time budget, checkpoints in a store, shares and merged reports. It imports the core only: the
// clients load with the schemes the options use, so a bundle holds just those.
export {
  createHydrationHandler,
  type HydrationHandler,
  type HydrationHandlerOptions,
  type HydrationInput,
  type HydrationResult,
  type LambdaContextLike,
} from './handler.js'
