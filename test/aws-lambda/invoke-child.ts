// One Lambda invocation of the hydration handler in a process of its own, so a test can kill it
// mid-invocation: argv[2] is JSON { options, input, remainingMs }; prints the result as JSON.
import { createHydrationHandler } from '../../lib/aws-lambda/index.js'

const { options, input, remainingMs } = JSON.parse(process.argv[2]!) as { options: Record<string, unknown>; input: Record<string, unknown>; remainingMs: number }
const deadline = Date.now() + remainingMs
const handler = createHydrationHandler(options as never)
const result = await handler(input as never, { getRemainingTimeInMillis: () => deadline - Date.now(), awsRequestId: 'child' })
process.stdout.write(JSON.stringify(result) + '\n')
