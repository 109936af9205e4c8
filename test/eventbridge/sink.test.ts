process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true'
import { EventBridgeClient } from '@aws-sdk/client-eventbridge'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { HydratorError } from '../../lib/errors.js'
import { eventBridgePlugin } from '../../lib/eventbridge/plugin.js'
import { parseUri } from '../../lib/registry.js'
import { buildPutEventsEntry, chunkEntries, putEventsEntrySize, toEventBridge } from '../../lib/eventbridge/sink.js'
import { run } from '../../lib/run.js'
import { sinkContract } from '../contract.js'
import { assertCounts, orderEvents, tracked, factoryContext } from '../helpers.js'
import { startEventBridgeServer, type EventBridgeServer } from '../servers/eventbridge-server.js'

const credentials = { accessKeyId: 'test', secretAccessKey: 'test' }
const fast = { attempts: 4, minDelayMs: 1, maxDelayMs: 5 }

let server: EventBridgeServer
let client: EventBridgeClient

const test = suite('toEventBridge')

test.before(async () => {
  server = await startEventBridgeServer({ buses: ['orders'] })
  client = new EventBridgeClient({ endpoint: server.endpoint, region: 'us-east-1', credentials, maxAttempts: 1 })
})

test.after(async () => {
  client.destroy()
  await server.close()
})

test.before.each(() => {
  server.events.clear()
  server.requests.length = 0
  server.injectEntry(undefined)
  server.injectRequest(undefined)
})

const events = (n: number, extra?: (i: number) => Record<string, unknown>) =>
  orderEvents(n, { extra, resources: ['arn:aws:dynamodb:us-east-1:123456789012:table/orders'] })

const stored = (bus = 'orders') => server.events.get(bus) ?? []
const seqs = (bus = 'orders') => stored(bus).map((e) => JSON.parse(e.Detail!).seq as number)

sinkContract(test, 'toEventBridge', () => toEventBridge({ client, eventBusName: 'orders', retry: fast }), events(4))

test('puts every event once, in requests of at most 10 entries, keeping source, detail-type, detail, time and resources', async () => {
  const input = events(25)
  const result = await toEventBridge({ client, eventBusName: 'orders', retry: fast })(tracked(input).source)
  assertCounts(result)
  assert.is(result.written, 25)
  assert.equal(server.requests.map((r) => r.entries.length), [10, 10, 5])
  assert.equal(seqs(), [...Array(25).keys()])
  const first = stored()[0]!
  assert.is(first.Source, 'orders')
  assert.is(first.DetailType, 'OrderPlaced')
  assert.equal(JSON.parse(first.Detail!), { aggregateId: 'a0', seq: 0 })
  assert.is(first.Time, Date.parse('2024-01-01T00:00:00Z') / 1000)
  assert.equal(first.Resources, ['arn:aws:dynamodb:us-east-1:123456789012:table/orders'])
  assert.is(first.EventBusName, 'orders')
})

test('requests stay within 256 KB of entry size as AWS computes it', async () => {
  const input = events(12, () => ({ blob: 'x'.repeat(60 * 1024) }))
  const result = await toEventBridge({ client, eventBusName: 'orders', retry: fast })(tracked(input).source)
  assertCounts(result)
  assert.is(result.written, 12)
  assert.ok(server.requests.length >= 3)
  for (const r of server.requests) {
    assert.ok(r.bytes <= 256 * 1024, `request of ${r.bytes} bytes`)
    assert.ok(r.entries.length <= 10)
  }
  assert.equal(seqs(), [...Array(12).keys()])
})

test('an entry over the limit fails alone with ERR_ITEM_TOO_LARGE', async () => {
  const input = events(3, (i) => (i === 1 ? { blob: 'x'.repeat(300 * 1024) } : {}))
  const result = await toEventBridge({ client, eventBusName: 'orders', retry: fast })(tracked(input).source)
  assertCounts(result)
  assert.is(result.written, 2)
  assert.is(result.failures[0]!.code, 'ERR_ITEM_TOO_LARGE')
  assert.match(result.failures[0]!.message, /"e1"/)
  assert.equal(seqs(), [0, 2])
})

test('throttled and internal entry failures are sent again alone, then succeed', async () => {
  server.injectEntry((entry, seen) => {
    const seq = JSON.parse(entry.Detail!).seq
    if (seq === 3 && seen <= 2) return { errorCode: 'ThrottlingException', errorMessage: 'Rate exceeded' }
    if (seq === 7 && seen === 1) return { errorCode: 'InternalFailure', errorMessage: 'internal' }
    return undefined
  })
  const result = await toEventBridge({ client, eventBusName: 'orders', retry: fast })(tracked(events(10)).source)
  assertCounts(result)
  assert.is(result.written, 10)
  assert.is(result.failed, 0)
  assert.equal(server.requests.map((r) => r.entries.length), [10, 2, 1], 'only the failed entries were sent again')
  assert.equal(JSON.parse(server.requests[2]!.entries[0]!.Detail!).seq, 3)
  assert.equal([...seqs()].sort((a, b) => a - b), [...Array(10).keys()], 'each event stored once')
  assert.equal(result.retries, { ThrottlingException: 2 })
})

test('an entry still failing when attempts run out is reported with its error code and message', async () => {
  server.injectEntry((entry) => (JSON.parse(entry.Detail!).seq === 1 ? { errorCode: 'ThrottlingException', errorMessage: 'Rate exceeded' } : undefined))
  const result = await toEventBridge({ client, eventBusName: 'orders', retry: fast })(tracked(events(4)).source)
  assertCounts(result)
  assert.is(result.written, 3)
  assert.is(result.failed, 1)
  const [failure] = result.failures
  assert.is(failure!.code, 'ERR_RETRIES_EXHAUSTED')
  assert.is(failure!.message, 'ThrottlingException: Rate exceeded (after 4 attempts)')
  assert.is(failure!.key, 'e1')
  assert.is(failure!.attempts, 4)
})

test('entry errors that are not retryable fail their event at once', async () => {
  const input = events(3, () => ({})).map((e, i) => (i === 1 ? { ...e, source: 'aws.orders' } : e))
  const result = await toEventBridge({ client, eventBusName: 'orders', retry: fast })(tracked(input).source)
  assertCounts(result)
  assert.is(result.written, 2)
  assert.is(result.failures[0]!.code, 'ERR_WRITE_REJECTED')
  assert.match(result.failures[0]!.message, /^NotAuthorizedForSourceException: /)
  assert.is(server.requests.length, 1, 'not retried')
})

test('whole-request throttling is retried', async () => {
  server.injectRequest((index) => (index <= 2 ? { status: 400, type: 'ThrottlingException', message: 'Rate exceeded' } : undefined))
  const result = await toEventBridge({ client, eventBusName: 'orders', retry: fast })(tracked(events(5)).source)
  assertCounts(result)
  assert.is(result.written, 5)
  assert.equal(result.retries, { ThrottlingException: 2 })
})

test('an abort stops reading; what was put is counted as written, the rest as failed', async () => {
  const controller = new AbortController()
  // Slow the server down a little so the abort lands mid-run.
  server.injectEntry((entry, seen) => (seen === 1 && JSON.parse(entry.Detail!).seq % 7 === 0 ? { errorCode: 'ThrottlingException' } : undefined))
  const { source, state } = tracked(events(2000))
  setTimeout(() => controller.abort(), 30)
  const result = await toEventBridge({ client, eventBusName: 'orders', concurrency: 2, retry: { attempts: 8, minDelayMs: 5, maxDelayMs: 20 } })(source, {
    signal: controller.signal,
  })
  assertCounts(result)
  assert.ok(state.closed)
  assert.ok(result.received < 2000, `stopped early (received ${result.received})`)
  assert.is(result.written, stored().length, 'written = stored on the bus')
  assert.ok(result.failures.every((f) => f.code === 'ERR_ABORTED'), JSON.stringify(result.failures[0]))
})

test('the replay marker goes into detail, where rules can match it', async () => {
  await toEventBridge({ client, eventBusName: 'orders', replayName: 'rebuild-1', retry: fast })(tracked(events(2)).source)
  assert.equal(JSON.parse(stored()[0]!.Detail!), { aggregateId: 'a0', seq: 0, 'replay-name': 'rebuild-1' })
})

test('stored events in another shape are mapped with an envelope', async () => {
  const input = [{ ID: 'x', Timestamp: '2024-02-01T10:00:00Z', EventType: 'OrderPaid', Data: '{"total":5}' }]
  const result = await toEventBridge({
    client,
    retry: fast,
    envelope: { id: 'ID', time: 'Timestamp', 'detail-type': 'EventType', source: { value: 'orders.service' }, detail: 'Data' },
  })(tracked(input).source)
  assert.is(result.written, 1)
  const event = stored('default')[0]!
  assert.is(event.Source, 'orders.service')
  assert.is(event.DetailType, 'OrderPaid')
  assert.equal(JSON.parse(event.Detail!), { total: 5 })
  assert.is(event.Time, Date.parse('2024-02-01T10:00:00Z') / 1000)
  assert.is(event.Resources, undefined)
})

test('a detail that is not an object fails with ERR_MAPPING', async () => {
  const input = events(2).map((e, i) => (i === 0 ? { ...e, detail: [1, 2] } : e))
  const result = await toEventBridge({ client, eventBusName: 'orders', retry: fast })(tracked(input).source)
  assertCounts(result)
  assert.is(result.failures[0]!.code, 'ERR_MAPPING')
  assert.is(result.written, 1)
})

test('a missing bus fails at open, before any event is read', async () => {
  const { source, state } = tracked(events(2))
  try {
    await toEventBridge({ client, eventBusName: 'nope', retry: fast })(source)
    assert.unreachable()
  } catch (error) {
    assert.instance(error, HydratorError)
    assert.is((error as HydratorError).code, 'ERR_TARGET_NOT_FOUND')
  }
  assert.is(state.pulled, 0)
  assert.is(server.requests.length, 0)
})

test('a dry run previews the entries and puts nothing', async () => {
  const result = await toEventBridge({ client, eventBusName: 'orders', replayName: 'dry', retry: fast })(tracked(events(7)).source, { dryRun: true })
  assertCounts(result)
  assert.is(result.written, 7)
  assert.is(result.previews.length, 5)
  const preview = result.previews[0] as Record<string, unknown>
  assert.is(preview.Source, 'orders')
  assert.is(preview.Time, '2024-01-01T00:00:00.000Z')
  assert.match(String(preview.Detail), /"replay-name":"dry"/)
  assert.is(server.requests.length, 0)
})

test('a dry run checks the bus at open: a missing one fails with ERR_TARGET_NOT_FOUND before any event', async () => {
  const { source, state } = tracked(events(2))
  try {
    await run({ source, sink: toEventBridge({ client, eventBusName: 'nope', retry: fast }), dryRun: true })
    assert.unreachable('should have thrown')
  } catch (error) {
    assert.instance(error, HydratorError)
    assert.is((error as HydratorError).code, 'ERR_TARGET_NOT_FOUND')
  }
  assert.is(state.pulled, 0)
  assert.is(server.requests.length, 0)
})

test('a dry run fails an entry over the request limit (256 KB) with ERR_ITEM_TOO_LARGE, that event only', async () => {
  const input = events(3, (i) => (i === 1 ? { blob: 'x'.repeat(256 * 1024) } : {}))
  const report = await run({ source: tracked(input).source, sink: toEventBridge({ client, eventBusName: 'orders', retry: fast }), dryRun: true })
  assert.is(report.status, 'partial')
  assert.equal([report.sink.written, report.sink.failed], [2, 1])
  assert.is(report.failures.samples[0]!.code, 'ERR_ITEM_TOO_LARGE')
  assert.match(report.failures.samples[0]!.message, /"e1" is \d+ bytes, over the 262144-byte PutEvents limit/)
  assert.equal(report.sink.previews.map((p) => JSON.parse((p as { Detail: string }).Detail).seq), [0, 2])
  assert.is(server.requests.length, 0, 'nothing put')
})

test('entry sizes, chunks and entries are built purely', () => {
  const entry = buildPutEventsEntry(events(1)[0], 'b', undefined)
  assert.is(putEventsEntrySize(entry), 14 + 6 + 11 + Buffer.byteLength(entry.Detail!) + Buffer.byteLength(entry.Resources![0]!))
  assert.is(putEventsEntrySize({ Source: 'é', DetailType: 't' }), 3)
  const chunks = chunkEntries([5, 5, 5, 5, 5].map((size) => ({ size })), 10, 12)
  assert.equal(chunks.map((c) => c.length), [2, 2, 1])
  assert.equal(chunkEntries(Array.from({ length: 23 }, () => ({ size: 1 })), 10, 1e9).map((c) => c.length), [10, 10, 3])
  assert.throws(() => buildPutEventsEntry({ source: 's', detail: {} }, 'b', undefined), /detail-type/)
})

test('options are checked when the sink is made', () => {
  assert.throws(() => toEventBridge({ client, batchSize: 11 }), /`batchSize`.*`11`/)
  assert.throws(() => toEventBridge({ client, eventBusName: '' }), /eventBusName/)
  assert.throws(() => toEventBridge({ client, retry: { attempts: 0 } }), /attempts/)
  assert.throws(() => toEventBridge({ client: {} as never }), /client/)
})


test('the eventbridge: scheme builds the sink from the URI, marking hydration by default', async () => {
  const context = factoryContext({ retry: fast, concurrency: 2 })
  const sink = await eventBridgePlugin.sinks!.eventbridge!(parseUri(`eventbridge:orders?endpoint=${encodeURIComponent(server.endpoint)}`), context)
  const result = await sink(tracked(events(15)).source)
  for (const close of context.closers) await close()
  assertCounts(result)
  assert.is(result.written, 15)
  assert.is(result.uri, 'eventbridge:orders')
  assert.is(JSON.parse(stored()[0]!.Detail!)['replay-name'], 'event-hydrator')
})

test('the eventbridge: scheme refuses --order-key, pointing to lambda:', async () => {
  try {
    await eventBridgePlugin.sinks!.eventbridge!(parseUri('eventbridge:orders'), factoryContext({ retry: fast, orderKey: 'detail.id' }))
    assert.unreachable()
  } catch (error) {
    assert.is((error as HydratorError).code, 'ERR_USAGE')
    assert.match((error as Error).message, /does not keep order.*lambda:/)
  }
})

test.run()
