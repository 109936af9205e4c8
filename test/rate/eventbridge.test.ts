// --rate auto in front of an EventBridge bus that takes at most 150 entries a second: the local
// EventBridge server fails the entries above that rate with ThrottlingException (a PutEvents
// answer with a FailedEntryCount, as AWS throttles entries). The throttled entries lower the rate
// and are sent again on their own; every event is on the bus exactly once.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true'
import { EventBridgeClient } from '@aws-sdk/client-eventbridge'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { toEventBridge } from '../../lib/eventbridge/index.js'
import { rateControl } from '../../lib/rate-control.js'
import { run } from '../../lib/run.js'
import { awsRequestHandler } from '../../lib/util/aws.js'
import { events } from '../helpers.js'
import { startEventBridgeServer, type EventBridgeServer } from '../servers/eventbridge-server.js'

const LIMIT = 150
const COUNT = 500
const input = events(COUNT, (i) => ({ source: 'orders', detail: { n: i } }))

const test = suite('--rate auto: EventBridge')
let server: EventBridgeServer
let client: EventBridgeClient

test.before(async () => {
  server = await startEventBridgeServer({ buses: ['orders'] })
  client = new EventBridgeClient({
    region: 'us-east-1',
    endpoint: server.endpoint,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts: 1,
    requestHandler: awsRequestHandler({ connectionTimeoutMs: 1000, requestTimeoutMs: 5000 }),
  })
})

test.after(async () => {
  client?.destroy()
  await server?.close()
})

async function* from<T>(items: readonly T[]) {
  yield* items
}

test('throttled entries (FailedEntryCount) lower the rate; every event lands once', async () => {
  // A token bucket per entry: 150 a second, 15 at once.
  let tokens = 15
  let last = performance.now()
  let accepted = 0
  let refused = 0
  server.injectEntry(() => {
    const now = performance.now()
    tokens = Math.min(15, tokens + ((now - last) * LIMIT) / 1000)
    last = now
    if (tokens >= 1) {
      tokens -= 1
      accepted++
      return undefined
    }
    refused++
    return { errorCode: 'ThrottlingException', errorMessage: 'Rate exceeded' }
  })
  const control = rateControl({ startPerSecond: 120, maxPerSecond: 1000 })
  const report = await run({
    source: from(input),
    sink: toEventBridge({ client, eventBusName: 'orders', concurrency: 2, retry: { attempts: 10, minDelayMs: 20, maxDelayMs: 300 } }),
    rate: control,
  })
  server.injectEntry(undefined)
  assert.is(report.status, 'ok', JSON.stringify(report.failures.samples.slice(0, 3)))
  assert.is(report.sink.written, COUNT)
  const stored = server.events.get('orders') ?? []
  assert.is(stored.length, COUNT)
  assert.is(new Set(stored.map((e) => JSON.parse(e.Detail!).n)).size, COUNT)
  assert.is(accepted, COUNT)
  const rate = report.sink.rate!
  assert.ok(refused > 0 && rate.throttles > 0, `refused ${refused}, ${JSON.stringify(rate)}`)
  assert.equal(Object.keys(rate.throttledBy), ['ThrottlingException'])
  assert.ok(rate.decreases >= 1)
  assert.ok(rate.settledPerSecond <= LIMIT * 1.15, `settled at ${rate.settledPerSecond}/s`)
})

test.run()
