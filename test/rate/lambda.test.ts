// --rate auto in front of a Lambda function whose reserved concurrency lets it take at most 100
// invocations a second: the local Lambda Invoke server running the recorder handler, behind the
// fault proxy, whose token bucket answers 429 TooManyRequestsException above that rate. Through
// run() and rateControl() as a library user would: the run converges below the limit, the
// throttles fade after the first seconds, and every event reaches the handler exactly once.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { LambdaClient } from '@aws-sdk/client-lambda'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { readJsonLines, run } from '../../lib/index.js'
import { toLambda } from '../../lib/lambda/index.js'
import { rateControl } from '../../lib/rate-control.js'
import { awsRequestHandler } from '../../lib/util/aws.js'
import { events, ndjson, tempDir } from '../helpers.js'
import { isLambdaInvoke, lambdaError, rateLimit, startFaultProxy, type FaultProxy } from '../servers/fault-proxy.js'
import { startLambdaServer, type LambdaServer } from '../servers/lambda-server.js'

const LIMIT = 100
const COUNT = 450
const input = events(COUNT, (i) => ({ source: 'orders', detail: { aggregateId: `a${i % 50}`, version: i } }))

interface Recorder {
  calls: { event: { id: string } }[]
  violations: unknown[]
  reset(options?: { maxDelayMs?: number }): void
}

const test = suite('--rate auto: Lambda')
let tmp: Awaited<ReturnType<typeof tempDir>>
let file: string
let server: LambdaServer
let proxy: FaultProxy
let client: LambdaClient
let recorder: Recorder

test.before(async () => {
  tmp = await tempDir('eh-rate-lambda-')
  file = await tmp.file('events.ndjson', ndjson(input))
  const fixture = path.resolve('test/fixtures/handlers/recorder.mjs')
  recorder = (await import(pathToFileURL(fixture).href)) as Recorder
  server = await startLambdaServer({ functions: { projector: { module: fixture } } })
  proxy = await startFaultProxy({ target: server.endpoint })
  client = new LambdaClient({
    region: 'us-east-1',
    endpoint: proxy.url,
    credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
    maxAttempts: 1,
    requestHandler: awsRequestHandler({ connectionTimeoutMs: 1000, requestTimeoutMs: 5000 }),
  })
})

test.after(async () => {
  client?.destroy()
  await proxy?.close()
  await server?.close()
  await tmp?.cleanup()
})

test('converges below the function’s limit, throttles fade, every event invoked exactly once', async () => {
  recorder.reset()
  const limit = rateLimit({
    perSecond: LIMIT,
    burst: 10,
    match: isLambdaInvoke,
    reject: lambdaError(429, 'TooManyRequestsException', 'Rate Exceeded.', { Reason: 'ReservedFunctionConcurrentInvocationLimitExceeded' }),
  })
  proxy.setRules([limit.rule])
  const control = rateControl({ startPerSecond: 60, maxPerSecond: 1000 })
  const report = await run({
    source: readJsonLines(file),
    sink: toLambda({ client, functionName: 'projector', concurrency: 8, orderKey: 'detail.aggregateId', retry: { attempts: 10, minDelayMs: 20, maxDelayMs: 500 } }),
    rate: control,
  })

  // Nothing lost, nothing twice, order per key kept.
  assert.is(report.status, 'ok', JSON.stringify(report.failures.samples.slice(0, 3)))
  assert.is(report.sink.written, COUNT)
  assert.is(report.sink.failed, 0)
  const ids = recorder.calls.map((c) => c.event.id)
  assert.is(ids.length, COUNT)
  assert.is(new Set(ids).size, COUNT)
  assert.is(recorder.violations.length, 0)
  assert.is(limit.log.admitted, COUNT)

  const rate = report.sink.rate!
  assert.ok(rate.throttles > 0, JSON.stringify(rate))
  assert.equal(Object.keys(rate.throttledBy), ['TooManyRequestsException'])
  // Every throttle was retried (none was final), and each was counted as a throttle too.
  assert.is(report.sink.retries.TooManyRequestsException, rate.throttles)
  assert.ok(rate.settledPerSecond <= LIMIT * 1.1 && rate.settledPerSecond >= LIMIT * 0.5, `settled at ${rate.settledPerSecond}/s: ${JSON.stringify(rate)}`)

  const end = limit.log.entries.at(-1)!.at
  const later = limit.log.entries.filter((e) => e.at >= 2500)
  const refused = later.reduce((n, e) => n + e.refused, 0)
  const sent = later.reduce((n, e) => n + e.admitted + e.refused, 0)
  assert.ok(sent > 0, `the run lasted past 2.5 s (${end.toFixed(0)} ms)`)
  assert.ok(refused / sent < 0.1, `${refused} of ${sent} invocations throttled after 2.5 s`)
})

test('a throttle that exhausts the retries still lowers the rate, and the event is failed, not lost', async () => {
  recorder.reset()
  // The function takes nothing for a while: every invocation is throttled.
  proxy.setRules([{ name: 'closed', match: isLambdaInvoke, times: 12, action: lambdaError(429, 'TooManyRequestsException', 'Rate Exceeded.') }])
  const control = rateControl({ startPerSecond: 50, minPerSecond: 20 })
  const report = await run({
    source: readJsonLines(file),
    stages: [(source) => (async function* () {
      let n = 0
      for await (const e of source) if (n++ < 20) yield e
    })()],
    sink: toLambda({ client, functionName: 'projector', retry: { attempts: 3, minDelayMs: 5, maxDelayMs: 10 } }),
    rate: control,
  })
  const rate = report.sink.rate!
  // 12 refusals, three attempts per event: four events failed after their last attempt.
  assert.is(rate.throttles, 12)
  assert.is(report.sink.failed, 4)
  assert.is(report.sink.written, 16)
  assert.is(report.sink.retries.TooManyRequestsException, 8, 'the final attempts are not retries, but they are throttles')
  // Lowered (down to the floor: it sent little), never raised while nothing came back.
  assert.ok(rate.decreases >= 1 && rate.peakPerSecond === 50, JSON.stringify(rate))
  assert.ok(rate.lastPerSecond >= 20 && rate.lastPerSecond < 50, JSON.stringify(rate))
  assert.is(recorder.calls.length, 16)
})

test.run()
