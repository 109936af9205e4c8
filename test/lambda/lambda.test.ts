process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true'
import { LambdaClient } from '@aws-sdk/client-lambda'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { HydratorError } from '../../lib/errors.js'
import { lambdaPlugin } from '../../lib/lambda/plugin.js'
import { parseUri } from '../../lib/registry.js'
import { buildInvokeInput, readInvokeOutput, toLambda } from '../../lib/lambda/lambda.js'
import { run } from '../../lib/run.js'
import { sinkContract } from '../contract.js'
import { assertCounts, orderEvents, tracked, factoryContext } from '../helpers.js'
import { startLambdaServer, type LambdaServer } from '../servers/lambda-server.js'

const FIXTURES = path.resolve('test/fixtures/handlers')
const credentials = { accessKeyId: 'test', secretAccessKey: 'test' }
const fast = { attempts: 4, minDelayMs: 1, maxDelayMs: 5 }

interface Recorder {
  calls: { event: Record<string, any>; context: Record<string, unknown> }[]
  violations: unknown[]
  stats: { maxRunning: number }
  reset(options?: { maxDelayMs?: number }): void
}

let server: LambdaServer
let client: LambdaClient
let recorder: Recorder

const test = suite('toLambda')

test.before(async () => {
  recorder = (await import(pathToFileURL(path.join(FIXTURES, 'recorder.mjs')).href)) as Recorder
  server = await startLambdaServer({
    functions: {
      projector: { module: path.join(FIXTURES, 'recorder.mjs') },
      'callback-fn': { module: path.join(FIXTURES, 'callback.mjs') },
    },
    maxPayloadBytes: 64 * 1024,
  })
  client = new LambdaClient({ endpoint: server.endpoint, region: 'us-east-1', credentials, maxAttempts: 1 })
})

test.after(async () => {
  client.destroy()
  await server.close()
})

test.before.each(() => {
  recorder.reset()
  server.inject(undefined)
})

const events = (n: number, keys = 5, extra?: (i: number) => Record<string, unknown>) => orderEvents(n, { keys, extra })

const ids = () => recorder.calls.map((c) => c.event.id as string)

sinkContract(test, 'toLambda', () => toLambda({ client, functionName: 'projector', retry: fast }), events(4))

test('a handler sees every event exactly once, with the EventBridge payload unchanged', async () => {
  const input = events(100)
  const result = await toLambda({ client, functionName: 'projector', concurrency: 4, retry: fast })(tracked(input).source)
  assertCounts(result)
  assert.is(result.written, 100)
  assert.is(result.failed, 0)
  assert.equal([...ids()].sort(), input.map((e) => e.id).sort())
  assert.is(new Set(ids()).size, 100, 'nothing invoked twice')
  assert.equal(recorder.calls.find((c) => c.event.id === 'e7')!.event, input[7])
})

test('per-key order holds under concurrency 16 with random handler latency', async () => {
  recorder.reset({ maxDelayMs: 6 })
  const input = events(400, 12)
  const result = await toLambda({ client, functionName: 'projector', concurrency: 16, orderKey: 'detail.aggregateId', retry: fast })(
    tracked(input).source,
  )
  assertCounts(result)
  assert.is(result.written, 400)
  assert.equal(recorder.violations, [], 'no two invocations of one key overlapped')
  const byKey = new Map<string, number[]>()
  for (const c of recorder.calls) byKey.set(c.event.detail.aggregateId, [...(byKey.get(c.event.detail.aggregateId) ?? []), c.event.detail.seq])
  for (const [key, seqs] of byKey) assert.equal(seqs, [...seqs].sort((a, b) => a - b), `key ${key} in source order`)
  assert.ok(recorder.stats.maxRunning > 1, `different keys ran in parallel (max ${recorder.stats.maxRunning})`)
  assert.is(new Set(ids()).size, 400)
})

test('a contiguous run of one key does not stop other keys (ordered lanes read ahead)', async () => {
  recorder.reset({ maxDelayMs: 3 })
  // 30 events of a0 first, then 30 events spread over other keys.
  const input = [...events(30, 1), ...events(30, 10).map((e) => ({ ...e, id: `x${e.id}`, detail: { ...e.detail, aggregateId: `b${e.detail.seq % 10}` } }))]
  const result = await toLambda({ client, functionName: 'projector', concurrency: 8, orderKey: 'detail.aggregateId', maxBuffered: 64, retry: fast })(
    tracked(input).source,
  )
  assert.is(result.written, 60)
  assert.equal(recorder.violations, [])
  const firstB = recorder.calls.findIndex((c) => c.event.detail.aggregateId.startsWith('b'))
  assert.ok(firstB < 30, `other keys started before the a0 run ended (at call ${firstB})`)
})

test('default concurrency 1 keeps the global source order', async () => {
  recorder.reset({ maxDelayMs: 2 })
  const input = events(40)
  const result = await toLambda({ client, functionName: 'projector', retry: fast })(tracked(input).source)
  assert.is(result.written, 40)
  assert.equal(ids(), input.map((e) => e.id))
  assert.is(recorder.stats.maxRunning, 1)
})

test('concurrency 1 with an order key still keeps the global order', async () => {
  const input = events(30, 3)
  await toLambda({ client, functionName: 'projector', orderKey: 'detail.aggregateId', retry: fast })(tracked(input).source)
  assert.equal(ids(), input.map((e) => e.id))
})

test('function errors become failures with the error type and message, the rest is written', async () => {
  server.inject((call) =>
    (call.payload as { id: string }).id === 'e3'
      ? { functionError: 'Handled', errorType: 'InvalidOrder', errorMessage: 'order e3 has no lines' }
      : undefined,
  )
  const input = events(6, 5, (i) => (i === 1 ? { throw: 'amount must be positive' } : {}))
  const failures: unknown[] = []
  const result = await toLambda({ client, functionName: 'projector', retry: fast })(tracked(input).source, {
    onFailure: (f) => failures.push(f),
  })
  assertCounts(result)
  assert.is(result.written, 4)
  assert.is(result.failed, 2)
  const [unhandled, handled] = result.failures
  assert.is(unhandled!.code, 'ERR_FUNCTION_ERROR')
  assert.is(unhandled!.message, 'Unhandled: ValidationError: amount must be positive')
  assert.is(unhandled!.key, 'e1')
  assert.is(unhandled!.attempts, 1, 'function errors are not retried')
  assert.is(handled!.code, 'ERR_FUNCTION_ERROR')
  assert.is(handled!.message, 'Handled: InvalidOrder: order e3 has no lines')
  assert.is(failures.length, 2)
})

test('throttles (429) are retried with backoff, then succeed, and are counted', async () => {
  server.inject((call) => (call.count <= 3 ? { status: 429, errorType: 'TooManyRequestsException', message: 'Rate Exceeded.' } : undefined))
  const result = await toLambda({ client, functionName: 'projector', retry: fast })(tracked(events(5)).source)
  assertCounts(result)
  assert.is(result.written, 5)
  assert.is(result.failed, 0)
  assert.equal(result.retries, { TooManyRequestsException: 3 })
  assert.is(new Set(ids()).size, 5)
})

test('5xx ServiceException and dropped connections are retried', async () => {
  server.inject((call) => (call.count === 1 ? { status: 500, errorType: 'ServiceException', message: 'boom' } : call.count === 2 ? { drop: true } : undefined))
  const result = await toLambda({ client, functionName: 'projector', retry: fast })(tracked(events(3)).source)
  assertCounts(result)
  assert.is(result.written, 3)
  assert.is(Object.values(result.retries).reduce((a, b) => a + b, 0), 2)
  assert.ok(result.retries.ServiceException === 1, JSON.stringify(result.retries))
})

test('out of attempts, a throttled event is a failure and the run goes on', async () => {
  server.inject((call) => ((call.payload as { id: string }).id === 'e1' ? { status: 429, errorType: 'TooManyRequestsException' } : undefined))
  const result = await toLambda({ client, functionName: 'projector', retry: fast })(tracked(events(3)).source)
  assertCounts(result)
  assert.is(result.written, 2)
  assert.is(result.failed, 1)
  assert.is(result.failures[0]!.code, 'ERR_RETRIES_EXHAUSTED')
  assert.match(result.failures[0]!.message, /TooManyRequestsException/)
  assert.is(result.failures[0]!.attempts, 4)
  assert.is(result.retries.TooManyRequestsException, 3)
})

test('a missing function fails at open, before any event is read', async () => {
  const { source, state } = tracked(events(3))
  const before = server.requests
  try {
    await toLambda({ client, functionName: 'nope', retry: fast })(source)
    assert.unreachable('should have thrown')
  } catch (error) {
    assert.instance(error, HydratorError)
    assert.is((error as HydratorError).code, 'ERR_TARGET_NOT_FOUND')
    assert.match((error as Error).message, /nope/)
  }
  assert.is(state.pulled, 0)
  assert.is(server.requests, before, 'no invocation attempted')
  assert.is(recorder.calls.length, 0)
})

test('a function that disappears mid-run stops the run with ERR_TARGET_NOT_FOUND', async () => {
  server.inject((call) => (call.count >= 3 ? { status: 404, errorType: 'ResourceNotFoundException', message: 'Function not found' } : undefined))
  const tally = { received: 0, written: 0, skipped: 0, failed: 0, retries: {}, skippedBy: {} }
  try {
    await toLambda({ client, functionName: 'projector', retry: fast })(tracked(events(10)).source, { tally })
    assert.unreachable('should have thrown')
  } catch (error) {
    assert.is((error as HydratorError).code, 'ERR_TARGET_NOT_FOUND')
  }
  // The events after it are not failed one by one: they were not handled (run() reports them as
  // ERR_NOT_HANDLED, and a checkpoint does not pass them).
  assert.ok(tally.written >= 2)
  assert.is(tally.failed, 0)
  assert.ok(tally.received > tally.written)
})

test('a payload Lambda rejects as too large (413) fails only its event', async () => {
  const input = events(4, 5, (i) => (i === 2 ? { blob: 'x'.repeat(70 * 1024) } : {}))
  const result = await toLambda({ client, functionName: 'projector', retry: fast })(tracked(input).source)
  assertCounts(result)
  assert.is(result.written, 3)
  assert.is(result.failed, 1)
  assert.is(result.failures[0]!.code, 'ERR_ITEM_TOO_LARGE')
  assert.match(result.failures[0]!.message, /RequestTooLargeException/)
  assert.is(result.failures[0]!.key, 'e2')
  assert.equal(ids(), ['e0', 'e1', 'e3'])
})

test('a payload over maxPayloadBytes fails without a call', async () => {
  const before = server.requests
  const input = events(2, 5, (i) => (i === 0 ? { blob: 'x'.repeat(2000) } : {}))
  const result = await toLambda({ client, functionName: 'projector', maxPayloadBytes: 1000, retry: fast })(tracked(input).source)
  assertCounts(result)
  assert.is(result.failures[0]!.code, 'ERR_ITEM_TOO_LARGE')
  assert.is(server.requests - before, 1)
})

test('maps { ID, Timestamp, EventType, Data } events with an envelope', async () => {
  const stored = [
    { ID: 'evt-1', Timestamp: 1704067200, EventType: 'OrderPlaced', EmitterId: 'orders-service', Data: '{"aggregateId":"o1","total":3}' },
    { ID: 'evt-2', Timestamp: '2024-01-01T00:00:05.250Z', EventType: 'OrderPaid', EmitterId: 'orders-service', Data: { aggregateId: 'o1' } },
    { ID: 'evt-3', EventType: 'OrderPaid', EmitterId: 'orders-service', Data: {} },
  ]
  const result = await toLambda({
    client,
    functionName: 'projector',
    retry: fast,
    envelope: { id: 'ID', time: 'Timestamp', 'detail-type': 'EventType', source: 'EmitterId', detail: 'Data', account: { value: '111122223333' } },
    envelopeDefaults: { region: 'eu-west-1' },
  })(tracked(stored).source)
  assertCounts(result)
  assert.is(result.written, 2)
  assert.is(result.failed, 1)
  assert.is(result.failures[0]!.code, 'ERR_MAPPING')
  assert.match(result.failures[0]!.message, /time/)
  assert.equal(recorder.calls[0]!.event, {
    version: '0',
    id: 'evt-1',
    'detail-type': 'OrderPlaced',
    source: 'orders-service',
    account: '111122223333',
    time: '2024-01-01T00:00:00Z',
    region: 'eu-west-1',
    resources: [],
    detail: { aggregateId: 'o1', total: 3 },
  })
  assert.is(recorder.calls[1]!.event.time, '2024-01-01T00:00:05.250Z')
})

test('events in another shape without an envelope fail with ERR_MAPPING', async () => {
  const result = await toLambda({ client, functionName: 'projector', retry: fast })(tracked([{ ID: 1 }, events(1)[0]]).source)
  assertCounts(result)
  assert.is(result.failed, 1)
  assert.is(result.written, 1)
  assert.is(result.failures[0]!.code, 'ERR_MAPPING')
})

test('replayName sets EventBridge\'s replay-name field on the payload, leaving the event as it was', async () => {
  const input = events(2)
  await toLambda({ client, functionName: 'projector', replayName: 'rebuild-1', retry: fast })(tracked(input).source)
  assert.is(recorder.calls[0]!.event['replay-name'], 'rebuild-1')
  assert.equal({ ...recorder.calls[0]!.event, 'replay-name': undefined }, { ...input[0], 'replay-name': undefined })
  assert.is((input[0] as Record<string, unknown>)['replay-name'], undefined)
})

test('a dry run previews the payloads, counts them and invokes nothing', async () => {
  const before = server.requests
  const result = await toLambda({ client, functionName: 'projector', replayName: 'dry', retry: fast })(tracked(events(8)).source, { dryRun: true })
  assertCounts(result)
  assert.is(result.dryRun, true)
  assert.is(result.written, 8)
  assert.is(result.previews.length, 5)
  assert.is((result.previews[0] as Record<string, unknown>)['replay-name'], 'dry')
  assert.is((result.previews[0] as Record<string, unknown>).id, 'e0')
  assert.is(server.requests, before)
  assert.is(recorder.calls.length, 0)
})

test('a dry run checks the function at open: a missing one fails with ERR_TARGET_NOT_FOUND before any event', async () => {
  const { source, state } = tracked(events(3))
  const before = server.requests
  try {
    await run({ source, sink: toLambda({ client, functionName: 'nope', retry: fast }), dryRun: true })
    assert.unreachable('should have thrown')
  } catch (error) {
    assert.instance(error, HydratorError)
    assert.is((error as HydratorError).code, 'ERR_TARGET_NOT_FOUND')
    assert.match((error as Error).message, /nope/)
  }
  assert.is(state.pulled, 0, 'no event was read')
  assert.is(server.requests, before, 'nothing invoked')
  assert.is(recorder.calls.length, 0)
})

test('a dry run fails a payload over the invoke limit (6 MB) with ERR_ITEM_TOO_LARGE, that event only', async () => {
  const before = server.requests
  const input = events(3, 5, (i) => (i === 1 ? { blob: 'x'.repeat(6 * 1024 * 1024) } : {}))
  const report = await run({ source: tracked(input).source, sink: toLambda({ client, functionName: 'projector', retry: fast }), dryRun: true })
  assert.is(report.status, 'partial')
  assert.equal([report.sink.written, report.sink.failed], [2, 1])
  assert.is(report.failures.samples[0]!.code, 'ERR_ITEM_TOO_LARGE')
  assert.match(report.failures.samples[0]!.message, /"e1" is \d+ bytes, over the 6291456-byte limit/)
  assert.equal(report.sink.previews.map((p) => (p as { id: string }).id), ['e0', 'e2'])
  assert.is(server.requests, before, 'nothing invoked')
  assert.is(recorder.calls.length, 0)
})

test('ratePerSecond paces invocations', async () => {
  const started = performance.now()
  const result = await toLambda({ client, functionName: 'projector', ratePerSecond: 50, concurrency: 4, retry: fast })(tracked(events(11)).source)
  const elapsed = performance.now() - started
  assert.is(result.written, 11)
  // burst 1 at 50/s: 10 waits of 20 ms.
  assert.ok(elapsed >= 150, `took ${elapsed.toFixed(0)} ms`)
  assert.ok(elapsed < 2000, `took ${elapsed.toFixed(0)} ms`)
})

test('an abort stops reading; every event read is settled and the counts add up', async () => {
  recorder.reset({ maxDelayMs: 3 })
  const controller = new AbortController()
  const { source, state } = tracked(events(500, 3))
  setTimeout(() => controller.abort(), 40)
  const result = await toLambda({ client, functionName: 'projector', concurrency: 4, orderKey: 'detail.aggregateId', retry: fast })(source, {
    signal: controller.signal,
  })
  assertCounts(result)
  assert.ok(state.closed, 'upstream closed')
  assert.ok(result.received < 500, `stopped early (received ${result.received})`)
  assert.is(result.received, state.pulled)
  assert.is(result.written, recorder.calls.length, 'written = invoked')
  assert.ok(result.failures.every((f) => f.code === 'ERR_ABORTED'))
})

test('an alias ARN and a qualifier reach the function', async () => {
  const arn = 'arn:aws:lambda:us-east-1:123456789012:function:projector:live'
  let seen: string | undefined
  server.inject((call) => {
    seen = call.qualifier
    return undefined
  })
  const r1 = await toLambda({ client, functionName: arn, retry: fast })(tracked(events(1)).source)
  assert.is(r1.written, 1)
  assert.is(seen, 'live')
  const r2 = await toLambda({ client, functionName: 'projector', qualifier: '7', retry: fast })(tracked(events(1)).source)
  assert.is(r2.written, 1)
  assert.is(seen, '7')
})

test('a callback-style handler behind the server works the same way', async () => {
  const input = events(3, 5, (i) => (i === 1 ? { fail: 'no stock' } : {}))
  const result = await toLambda({ client, functionName: 'callback-fn', retry: fast })(tracked(input).source)
  assertCounts(result)
  assert.is(result.written, 2)
  assert.is(result.failures[0]!.message, 'Unhandled: TypeError: no stock')
})

test('options are checked when the sink is made, echoing the bad value', () => {
  assert.throws(() => toLambda({ client, functionName: '' }), /functionName/)
  assert.throws(() => toLambda({ client, functionName: 'f', concurrency: 0 }), /`concurrency`.*`0`/)
  assert.throws(() => toLambda({ client, functionName: 'f', ratePerSecond: -1 }), /`perSecond`.*`-1`/)
  assert.throws(() => toLambda({ client, functionName: 'f', envelope: { source: 'a' } as never }), /detail-type/)
  assert.throws(() => toLambda({ client, functionName: 'f', qualifier: 'bad:q' }), /qualifier/)
  assert.throws(() => toLambda({ client: {} as never, functionName: 'f' }), /client/)
})

test('buildInvokeInput and readInvokeOutput are pure', () => {
  const input = buildInvokeInput('f', 'live', '{"a":1}')
  assert.is(input.InvocationType, 'RequestResponse')
  assert.is(input.Qualifier, 'live')
  assert.is(Buffer.from(input.Payload as Uint8Array).toString(), '{"a":1}')
  assert.equal(readInvokeOutput({ FunctionError: undefined, Payload: undefined }), { ok: true })
  const failed = readInvokeOutput({ FunctionError: 'Unhandled', Payload: Buffer.from('{"errorType":"E","errorMessage":"m"}') as never })
  assert.equal(failed, { ok: false, kind: 'Unhandled', errorType: 'E', errorMessage: 'm' })
})


test('the lambda: scheme builds the sink from the URI and the CLI options', async () => {
  recorder.reset({ maxDelayMs: 2 })
  const context = factoryContext({ concurrency: 8, orderKey: 'detail.aggregateId', retry: fast, flags: {} })
  const sink = await lambdaPlugin.sinks!.lambda!(parseUri(`lambda:projector?endpoint=${encodeURIComponent(server.endpoint)}&region=us-east-1`), context)
  const result = await sink(tracked(events(50, 4)).source)
  for (const close of context.closers) await close()
  assertCounts(result)
  assert.is(result.written, 50)
  assert.is(result.uri, 'lambda:projector')
  assert.equal(recorder.violations, [])
  assert.is(recorder.calls[0]!.event['replay-name'], 'event-hydrator', 'the CLI marks hydration by default')
})

test('the lambda: scheme takes --replay-name \'\' (no marker) and an --envelope JSON flag', async () => {
  const envelope = JSON.stringify({ id: 'ID', time: 'Timestamp', 'detail-type': 'EventType', source: { value: 'svc' }, detail: 'Data' })
  const context = factoryContext({ flags: { replayName: '', envelope }, retry: fast })
  const sink = await lambdaPlugin.sinks!.lambda!(parseUri(`lambda:projector?endpoint=${encodeURIComponent(server.endpoint)}`), context)
  const result = await sink(tracked([{ ID: 'x', Timestamp: 0, EventType: 'T', Data: { n: 1 } }]).source)
  for (const close of context.closers) await close()
  assert.is(result.written, 1)
  assert.is(recorder.calls[0]!.event['replay-name'], undefined)
  assert.is(recorder.calls[0]!.event.source, 'svc')
  assert.is(recorder.calls[0]!.event.time, '1970-01-01T00:00:00Z')
})

test('the lambda: scheme rejects bad URIs before any I/O', async () => {
  const context = factoryContext()
  for (const [uri, pattern] of [
    ['lambda:', /names no function/],
    ['lambda:f?colour=red', /unknown parameter `colour`/],
    ['lambda:f?check=maybe', /check/],
    ['lambda:f?endpoint=ftp://x', /endpoint/],
  ] as const) {
    try {
      await lambdaPlugin.sinks!.lambda!(parseUri(uri), context)
      assert.unreachable(uri)
    } catch (error) {
      assert.match((error as Error).message, pattern)
    }
  }
  try {
    await lambdaPlugin.sinks!.lambda!(parseUri('lambda:f'), factoryContext({ concurrency: 0 }))
    assert.unreachable()
  } catch (error) {
    assert.is((error as HydratorError).code, 'ERR_INVALID_OPTION')
  }
})

test.run()
