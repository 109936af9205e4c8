// The AWS sinks under faults: DynamoDB (dynalite), Lambda (the Lambda test server running the
// recorder handler) and EventBridge (the EventBridge test server), each behind the fault proxy.
// For every sink and every fault (a throttling storm, a connection dropped before the request
// arrives or after it was applied, a restart, partial batch failures, timeouts), a run of a few
// thousand NDJSON events through a filter must end in the target state of a clean run, account
// for every event read, and show in the report the retries the fault caused.
//
// The restart is the proxy's: it cuts every open connection, refuses new ones for a while, then
// listens on the same port again, in front of the same server. A new dynalite instance would start
// without tables, and the test servers keep what they received in memory, so the listener in front
// of them is what goes away and comes back; to the client it looks like a restarting service.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { EventBridgeClient } from '@aws-sdk/client-eventbridge'
import { LambdaClient } from '@aws-sdk/client-lambda'
import { paginateScan } from '@aws-sdk/lib-dynamodb'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { rng } from '../../bench/generate.js'
import { toDynamo } from '../../lib/dynamo/index.js'
import { filter, readJsonLines, run, type RunReport, type Sink } from '../../lib/index.js'
import { toEventBridge } from '../../lib/eventbridge/index.js'
import { toLambda } from '../../lib/lambda/index.js'
import { dynamoPlugin } from '../../lib/dynamo/plugin.js'
import { parseUri, type FactoryContext } from '../../lib/registry.js'
import { awsRequestHandler } from '../../lib/util/aws.js'
import { events, ndjson, tempDir } from '../helpers.js'
import { createTable, dynamoClients, startDynalite, type DynaliteServer } from '../servers/dynalite.js'
import { startEventBridgeServer, type EventBridgeServer } from '../servers/eventbridge-server.js'
import {
  dynamoFaults,
  isAwsOp,
  isLambdaInvoke,
  startFaultProxy,
  type FaultAction,
  type FaultProxy,
  type ProxyRequest,
} from '../servers/fault-proxy.js'
import { startLambdaServer, type LambdaServer } from '../servers/lambda-server.js'

const COUNT = process.env.FULL ? 30_000 : 3000
const AGGREGATES = 100
/** Enough attempts to outlast a restart: at least 5 + 10 + 20 + 40 + 80 + 6 × 100 ms of backoff. */
const RETRY = { attempts: 12, minDelayMs: 5, maxDelayMs: 100 }
/** The test clients' request timeout: far above a local request's time, even on a loaded machine. */
const REQUEST_TIMEOUT_MS = 800
/** How long the proxy holds an answer back in the timeout faults: well past the client's timeout. */
const HOLD_MS = 2000
const DOWN_MS = 400
const credentials = { accessKeyId: 'test', secretAccessKey: 'test' }
const clientOptions = { region: 'us-east-1', credentials, maxAttempts: 1, requestHandler: awsRequestHandler({ connectionTimeoutMs: 1000, requestTimeoutMs: REQUEST_TIMEOUT_MS }) }

type Event = { id: string; source: string; 'detail-type': string; detail: { aggregateId: string; version: number } }

// A third of the events are orders and match; runs of six share an aggregate, so each holds two
// orders in a row (a DynamoDB batch collapses them: a skip), and every aggregate comes back.
const input = events(COUNT, (i) => ({ detail: { aggregateId: `a${Math.floor(i / 6) % AGGREGATES}`, version: i } })) as Event[]
const pattern = { source: ['orders'] }
const matched = input.filter((e) => e.source === 'orders')

const test = suite('AWS sinks under faults')
let tmp: Awaited<ReturnType<typeof tempDir>>
let file: string

/** Runs the whole pipeline (NDJSON file, filter, sink) and checks the report adds up, nothing failed. */
async function hydrate(sink: Sink<unknown>): Promise<RunReport> {
  const report = await run({ source: readJsonLines(file), stages: [filter(pattern)], sink })
  assert.is(report.source.read, COUNT)
  assert.is(report.filter.matched, matched.length)
  assert.is(
    report.source.read,
    report.filter.unmatched + report.sink.written + report.sink.skipped + report.sink.failed,
    `read ${report.source.read} = unmatched ${report.filter.unmatched} + written ${report.sink.written} + skipped ${report.sink.skipped} + failed ${report.sink.failed}`,
  )
  assert.is(report.sink.failed, 0, `no event failed: ${JSON.stringify(report.failures.samples.slice(0, 3))}`)
  assert.is(report.status, 'ok')
  return report
}

// ---------------------------------------------------------------------------------------------
// Faults

/** What a fault did, checked after the run. */
interface Injected {
  /** Whether a write may have been applied although its answer was lost, so the target may see it twice. */
  readonly repeats: boolean
  /** Asserts the fault happened and the report counts the retries it caused. */
  verify(report: RunReport): void
  /** Settles when the fault is over (a restart is back up). */
  readonly over?: Promise<void>
}

/** What a fault needs of a target: its proxy, its write requests, and the faults only its service has. */
interface Faultable {
  readonly proxy: FaultProxy
  /** The requests that write (faults at open would only test the open check). */
  readonly isWrite: (request: ProxyRequest) => boolean
  throttlingStorm(): Injected
  partialFailures(): Injected
}

/** A sink behind its proxy, and how to read and compare what it wrote (`S`). */
interface Target<S> extends Faultable {
  readonly name: string
  /** A fresh target (table, recorder, bus) and a sink writing to it. */
  fresh(): Promise<Sink<unknown>>
  /** The target's final state, in a form to compare with the clean run's. */
  state(): Promise<S>
  /** Checks a clean run's state is the one the events call for. */
  checkClean(state: S): void
  /** Compares with the clean run's state; `repeats` allows a write twice where the target would show it. */
  compare(state: S, clean: S, repeats: boolean): void
}

const sum = (retries: Readonly<Record<string, number>>, reasons: readonly string[]) => reasons.reduce((n, r) => n + (retries[r] ?? 0), 0)

/** Reasons a connection cut short shows under (the client's system error code). */
const CUT = ['ECONNRESET', 'EPIPE', 'ERR_STREAM_PREMATURE_CLOSE', 'UND_ERR_SOCKET']

/** Matches every `n`th write request, so a fault hits a known number of them spread over the run. */
function everyNth(isWrite: (request: ProxyRequest) => boolean, n: number): (request: ProxyRequest) => boolean {
  let writes = 0
  return (request) => isWrite(request) && ++writes % n === 0
}

/** The faults the proxy injects the same way in front of any of the three services. */
const proxyFaults = {
  dropBefore(t: Faultable): Injected {
    t.proxy.setRules([{ name: 'drop', match: everyNth(t.isWrite, 5), times: 8, action: { kind: 'drop' } }])
    return {
      repeats: false,
      verify(report) {
        assert.is(t.proxy.stats.applied.drop, 8)
        assert.is(sum(report.sink.retries, CUT), 8, `retries ${JSON.stringify(report.sink.retries)}`)
      },
    }
  },
  dropAfter(t: Faultable): Injected {
    t.proxy.setRules([{ name: 'drop-after-apply', match: everyNth(t.isWrite, 5), times: 8, action: { kind: 'forward', dropResponse: true } }])
    return {
      repeats: true,
      verify(report) {
        assert.is(t.proxy.stats.applied['drop-after-apply'], 8)
        assert.is(sum(report.sink.retries, CUT), 8, `retries ${JSON.stringify(report.sink.retries)}`)
      },
    }
  },
  restart(t: Faultable): Injected {
    const restarts = t.proxy.stats.restarts
    let over: Promise<void> | undefined
    // On the 10th write the service goes away: the request in hand is applied, its answer lost,
    // the others in flight are cut, and for DOWN_MS every connection is refused.
    const action = (): FaultAction => {
      over = t.proxy.restart(DOWN_MS)
      return { kind: 'forward', dropResponse: true }
    }
    t.proxy.setRules([{ name: 'restart', match: everyNth(t.isWrite, 10), times: 1, action }])
    return {
      repeats: true,
      get over() {
        return over
      },
      verify(report) {
        assert.is(t.proxy.stats.restarts - restarts, 1)
        assert.ok((report.sink.retries.ECONNREFUSED ?? 0) > 0, `connections were refused while it was down: ${JSON.stringify(report.sink.retries)}`)
        assert.ok(sum(report.sink.retries, CUT) > 0, `the request in hand was cut: ${JSON.stringify(report.sink.retries)}`)
      },
    }
  },
  timeouts(t: Faultable): Injected {
    t.proxy.setRules([{ name: 'hold', match: everyNth(t.isWrite, 6), times: 4, action: { kind: 'forward', holdResponseMs: HOLD_MS } }])
    return {
      repeats: true,
      verify(report) {
        assert.is(t.proxy.stats.applied.hold, 4)
        // A loaded machine may time out a few more requests on its own; they are retried just the same.
        assert.ok((report.sink.retries.ETIMEDOUT ?? 0) >= 4, `the client timed out and retried: ${JSON.stringify(report.sink.retries)}`)
      },
    }
  },
}

/**
 * A throttling storm for a test server's fault hook: the first `burst` requests, then three in ten
 * at random (seeded), get the throttle; each must cost one retry under `reason`.
 */
function storm(o: { burst: number; seed: number; reason: string; atLeast: number }) {
  const random = rng(o.seed)
  let count = 0
  const decide = <F>(request: number, throttle: F): F | undefined => {
    if (request > o.burst && random() >= 0.3) return undefined
    count++
    return throttle
  }
  const injected: Injected = {
    repeats: false,
    verify(report) {
      assert.ok(count > o.atLeast, `throttled: ${count}`)
      assert.is(report.sink.retries[o.reason], count)
    },
  }
  return { decide, injected }
}

const FAULTS: readonly { readonly name: string; readonly inject: (t: Faultable) => Injected }[] = [
  { name: 'a throttling storm', inject: (t) => t.throttlingStorm() },
  { name: 'connections dropped mid-batch before the request arrives', inject: proxyFaults.dropBefore },
  { name: 'connections dropped mid-batch after the write was applied', inject: proxyFaults.dropAfter },
  { name: 'a restart of the service', inject: proxyFaults.restart },
  { name: 'partial batch failures', inject: (t) => t.partialFailures() },
  { name: 'answers held past the client timeout', inject: proxyFaults.timeouts },
]

// ---------------------------------------------------------------------------------------------
// DynamoDB: unversioned BatchWriteItem (where UnprocessedItems happen), several batches in flight,
// several writes per key, so per-key order decides the final table. Batches of 10 keep each pair of
// same-key orders in one batch, so batches in flight never wait for each other's keys.

let dynalite: DynaliteServer
let dynamoProxy: FaultProxy
let dynamoDirect: ReturnType<typeof dynamoClients>
let dynamoViaProxy: ReturnType<typeof dynamoClients>
let tables = 0
let table = ''

type Item = Record<string, unknown>

const dynamo: Target<Item[]> = {
  name: 'DynamoDB',
  get proxy() {
    return dynamoProxy
  },
  isWrite: isAwsOp('BatchWriteItem'),
  async fresh() {
    table = `faults${++tables}`
    await createTable(dynamoDirect.client, table, { partition: ['id', 'S'] })
    return toDynamo({
      client: dynamoViaProxy.doc,
      tableName: table,
      mapping: { columns: { id: 'detail.aggregateId', version: 'detail.version', type: 'detail-type', eventId: 'id' }, key: ['id'] },
      batchSize: 10,
      concurrency: 4,
      retry: RETRY,
    })
  },
  async state() {
    const items: Item[] = []
    for await (const page of paginateScan({ client: dynamoDirect.doc }, { TableName: table, ConsistentRead: true })) items.push(...(page.Items ?? []))
    return items.sort((a, b) => String(a.id).localeCompare(String(b.id)))
  },
  checkClean(state) {
    const last = new Map<string, Event>()
    for (const e of matched) last.set(e.detail.aggregateId, e)
    const expected = [...last.values()]
      .map((e) => ({ id: e.detail.aggregateId, version: e.detail.version, type: e['detail-type'], eventId: e.id }))
      .sort((a, b) => a.id.localeCompare(b.id))
    assert.equal(state, expected, 'each key holds its last matched event')
  },
  compare(state, clean) {
    // Puts are idempotent: a write applied twice leaves the same item.
    assert.equal(state, clean)
  },
  throttlingStorm() {
    const p = this.proxy
    // The storm's first 8 writes are all throttled, then three in ten at random (seeded).
    p.setRules([
      dynamoFaults.throttle({ times: 8, operations: ['BatchWriteItem'] }),
      dynamoFaults.throttle({ type: 'ThrottlingException', probability: 0.3, operations: ['BatchWriteItem'] }),
    ])
    return {
      repeats: false,
      verify(report) {
        const burst = p.stats.applied.ProvisionedThroughputExceededException ?? 0
        const random = p.stats.applied.ThrottlingException ?? 0
        assert.is(burst, 8)
        assert.ok(random > 3, `random throttles: ${random}`)
        assert.is(report.sink.retries.ProvisionedThroughputExceededException, burst)
        assert.is(report.sink.retries.ThrottlingException, random)
      },
    }
  },
  partialFailures() {
    const p = this.proxy
    // Half the requests write only half of their items; the rest come back in UnprocessedItems.
    p.setRules([dynamoFaults.unprocessed({ probability: 0.5 })])
    return {
      repeats: false,
      verify(report) {
        const partial = p.stats.applied.UnprocessedItems ?? 0
        assert.ok(partial > 10, `partial answers: ${partial}`)
        assert.is(report.sink.retries.UnprocessedItems, partial)
      },
    }
  },
}

// ---------------------------------------------------------------------------------------------
// Lambda: the recorder handler, 8 invocations in flight, in order per aggregate.

interface Recorder {
  calls: { event: Event }[]
  violations: unknown[]
  reset(options?: { maxDelayMs?: number }): void
}

let lambdaServer: LambdaServer
let lambdaProxy: FaultProxy
let lambdaClient: LambdaClient
let recorder: Recorder

/** What the handler saw: the ids per key in call order, and the last version it saw per key. */
interface LambdaState {
  readonly byKey: Map<string, string[]>
  readonly lastVersion: Map<string, number>
  readonly calls: number
  readonly overlaps: number
}

/** Drops a call that repeats the one just before it (a retry of an invocation that ran). */
const withoutRepeats = (ids: readonly string[]) => ids.filter((id, i) => i === 0 || ids[i - 1] !== id)

const lambda: Target<LambdaState> = {
  name: 'Lambda',
  get proxy() {
    return lambdaProxy
  },
  isWrite: isLambdaInvoke,
  async fresh() {
    recorder.reset()
    lambdaServer.inject(undefined)
    return toLambda({ client: lambdaClient, functionName: 'projector', concurrency: 8, orderKey: 'detail.aggregateId', retry: RETRY })
  },
  async state() {
    const byKey = new Map<string, string[]>()
    const lastVersion = new Map<string, number>()
    for (const { event } of recorder.calls) {
      const key = event.detail.aggregateId
      byKey.set(key, [...(byKey.get(key) ?? []), event.id])
      lastVersion.set(key, event.detail.version)
    }
    return { byKey, lastVersion, calls: recorder.calls.length, overlaps: recorder.violations.length }
  },
  checkClean(state) {
    assert.is(state.calls, matched.length, 'each matched event invoked once')
    const expected = new Map<string, string[]>()
    for (const e of matched) expected.set(e.detail.aggregateId, [...(expected.get(e.detail.aggregateId) ?? []), e.id])
    assert.equal(state.byKey, expected, 'per key, in source order')
    assert.is(state.overlaps, 0)
  },
  compare(state, clean, repeats) {
    assert.is(state.overlaps, 0, 'no two invocations of one key overlapped')
    if (!repeats) assert.is(state.calls, clean.calls, 'nothing invoked twice')
    else assert.ok(state.calls >= clean.calls)
    // At least once, in order per key: a repeat can only be the retry right after the call it repeats.
    const deduped = new Map([...state.byKey].map(([key, ids]) => [key, withoutRepeats(ids)]))
    assert.equal(deduped, clean.byKey, 'per key, every event in source order (a retried call may repeat)')
    assert.equal(state.lastVersion, clean.lastVersion, 'the handler ends with the same last version per key')
  },
  throttlingStorm() {
    const throttle = { status: 429, errorType: 'TooManyRequestsException', message: 'Rate Exceeded.' }
    const { decide, injected } = storm({ burst: 24, seed: 11, reason: 'TooManyRequestsException', atLeast: 100 })
    lambdaServer.inject((call) => decide(call.count, throttle))
    return injected
  },
  partialFailures() {
    // Among the invocations in flight, some fail on their own: every 7th event is throttled once,
    // every 11th meets a 500 twice; the others succeed alongside them.
    const tries = new Map<string, number>()
    const injected = { throttled: 0, failed: 0 }
    lambdaServer.inject((call) => {
      const event = call.payload as Event
      const n = (tries.get(event.id) ?? 0) + 1
      tries.set(event.id, n)
      const v = event.detail.version
      if (v % 7 === 0 && n === 1) {
        injected.throttled++
        return { status: 429, errorType: 'TooManyRequestsException' }
      }
      if (v % 7 !== 0 && v % 11 === 0 && n <= 2) {
        injected.failed++
        return { status: 500, errorType: 'ServiceException', message: 'internal error' }
      }
      return undefined
    })
    return {
      repeats: false,
      verify(report) {
        assert.ok(injected.throttled > 0 && injected.failed > 0, JSON.stringify(injected))
        assert.is(report.sink.retries.TooManyRequestsException, injected.throttled)
        assert.is(report.sink.retries.ServiceException, injected.failed)
      },
    }
  },
}

// ---------------------------------------------------------------------------------------------
// EventBridge: PutEvents in requests of 10, 4 in flight. EventBridge keeps no order, so the state
// is the multiset of events on the bus; an event's detail is unique (it holds the version).

let eventBridgeServer: EventBridgeServer
let eventBridgeProxy: FaultProxy
let eventBridgeClient: EventBridgeClient

const eventBridge: Target<Map<string, number>> = {
  name: 'EventBridge',
  get proxy() {
    return eventBridgeProxy
  },
  isWrite: isAwsOp('PutEvents'),
  async fresh() {
    eventBridgeServer.events.clear()
    eventBridgeServer.requests.length = 0
    eventBridgeServer.injectEntry(undefined)
    eventBridgeServer.injectRequest(undefined)
    return toEventBridge({ client: eventBridgeClient, eventBusName: 'orders', concurrency: 4, retry: RETRY })
  },
  async state() {
    const counts = new Map<string, number>()
    for (const e of eventBridgeServer.events.get('orders') ?? []) {
      const key = `${e.Source} ${e.DetailType} ${e.Detail}`
      counts.set(key, (counts.get(key) ?? 0) + 1)
    }
    return counts
  },
  checkClean(state) {
    const expected = new Map(matched.map((e) => [`${e.source} ${e['detail-type']} ${JSON.stringify(e.detail)}`, 1]))
    assert.equal(state, expected, 'each matched event on the bus once')
  },
  compare(state, clean, repeats) {
    assert.equal(new Set(state.keys()), new Set(clean.keys()), 'the same events on the bus')
    for (const [key, n] of state) {
      if (repeats) assert.ok(n >= 1)
      else assert.is(n, 1, `${key} put once`)
    }
  },
  throttlingStorm() {
    // Whole requests are throttled.
    const throttle = { status: 400, type: 'ThrottlingException', message: 'Rate exceeded' }
    const { decide, injected } = storm({ burst: 12, seed: 13, reason: 'ThrottlingException', atLeast: 30 })
    eventBridgeServer.injectRequest((index) => decide(index, throttle))
    return injected
  },
  partialFailures() {
    // FailedEntryCount > 0: every 5th entry is throttled the first time, every 7th fails with
    // InternalFailure twice; the sink sends only those again.
    const injected = { entries: 0 }
    eventBridgeServer.injectEntry((entry, seen) => {
      const version = (JSON.parse(entry.Detail!) as Event['detail']).version
      if (version % 5 === 0 && seen === 1) {
        injected.entries++
        return { errorCode: 'ThrottlingException', errorMessage: 'Rate exceeded' }
      }
      if (version % 5 !== 0 && version % 7 === 0 && seen <= 2) {
        injected.entries++
        return { errorCode: 'InternalFailure', errorMessage: 'internal failure' }
      }
      return undefined
    })
    return {
      repeats: false,
      verify(report) {
        const partial = eventBridgeServer.requests.length
        assert.ok(injected.entries > 100, `failed entries: ${injected.entries}`)
        // One retry per request that still had failed entries, counted under the first one's code.
        const rounds = sum(report.sink.retries, ['ThrottlingException', 'InternalFailure'])
        assert.ok(rounds > 0 && rounds <= injected.entries, `retries ${JSON.stringify(report.sink.retries)}`)
        assert.is(partial, Math.ceil(matched.length / 10) + rounds, 'a request per 10 events, plus one per retry')
      },
    }
  },
}

// ---------------------------------------------------------------------------------------------

test.before(async () => {
  tmp = await tempDir('eh-aws-faults-')
  file = await tmp.file('events.ndjson', ndjson(input))

  dynalite = await startDynalite()
  dynamoDirect = dynamoClients(dynalite.endpoint)
  dynamoProxy = await startFaultProxy({ target: dynalite.endpoint, seed: 3 })
  dynamoViaProxy = dynamoClients(dynamoProxy.url, { maxAttempts: 1, requestTimeoutMs: REQUEST_TIMEOUT_MS })

  const fixture = path.resolve('test/fixtures/handlers/recorder.mjs')
  recorder = (await import(pathToFileURL(fixture).href)) as Recorder
  lambdaServer = await startLambdaServer({ functions: { projector: { module: fixture } } })
  lambdaProxy = await startFaultProxy({ target: lambdaServer.endpoint, seed: 5 })
  lambdaClient = new LambdaClient({ ...clientOptions, endpoint: lambdaProxy.url })

  eventBridgeServer = await startEventBridgeServer({ buses: ['orders'] })
  eventBridgeProxy = await startFaultProxy({ target: eventBridgeServer.endpoint, seed: 7 })
  eventBridgeClient = new EventBridgeClient({ ...clientOptions, endpoint: eventBridgeProxy.url })
})

test.after(async () => {
  dynamoDirect?.destroy()
  dynamoViaProxy?.destroy()
  lambdaClient?.destroy()
  eventBridgeClient?.destroy()
  for (const proxy of [dynamoProxy, lambdaProxy, eventBridgeProxy]) await proxy?.close()
  await dynalite?.close()
  await lambdaServer?.close()
  await eventBridgeServer?.close()
  await tmp?.cleanup()
})

test.after.each(() => {
  for (const proxy of [dynamoProxy, lambdaProxy, eventBridgeProxy]) proxy?.setRules([])
  lambdaServer?.inject(undefined)
  eventBridgeServer?.injectEntry(undefined)
  eventBridgeServer?.injectRequest(undefined)
})

/** One test for the clean run, then one per fault, compared with it. */
function matrix<S>(target: Target<S>) {
  let clean: { report: RunReport; state: S } | undefined

  test(`${target.name}: a clean run writes what the events call for, with no retries`, async () => {
    const report = await hydrate(await target.fresh())
    assert.equal(report.sink.retries, {})
    const state = await target.state()
    target.checkClean(state)
    clean = { report, state }
  })

  for (const fault of FAULTS) {
    test(`${target.name}: after ${fault.name}, the target equals a clean run's and every event is accounted for`, async () => {
      const baseline = clean
      assert.ok(baseline, 'the clean run went first')
      const sink = await target.fresh()
      const injected = fault.inject(target)
      const report = await hydrate(sink)
      if (process.env.VERBOSE) console.log(`${target.name}, ${fault.name}: ${report.durationMs} ms, retries ${JSON.stringify(report.sink.retries)}`)
      await injected.over
      injected.verify(report)
      // Retries change neither what is written nor what a batch collapses.
      assert.is(report.sink.written, baseline.report.sink.written, 'written as in the clean run')
      assert.is(report.sink.skipped, baseline.report.sink.skipped, 'skipped as in the clean run')
      target.compare(await target.state(), baseline.state, injected.repeats)
    })
  }
}

matrix(dynamo)
matrix(lambda)
matrix(eventBridge)

test('the client the dynamo: scheme builds times out a hung request (?timeoutMs=), and the sink retries it', async () => {
  await dynamo.fresh() // a fresh table; the sink comes from the plugin, with the client it makes
  const closers: (() => unknown)[] = []
  const context: FactoryContext = {
    env: { AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' },
    cwd: process.cwd(),
    flags: {},
    mapping: { columns: { id: 'detail.aggregateId', version: 'detail.version', type: 'detail-type', eventId: 'id' }, key: ['id'] },
    batchSize: 10,
    retry: RETRY,
    onClose: (fn) => closers.push(fn),
  }
  try {
    const uri = `dynamo:${table}?endpoint=${encodeURIComponent(dynamoProxy.url)}&region=us-east-1&timeoutMs=${REQUEST_TIMEOUT_MS}`
    const sink = (await dynamoPlugin.sinks!.dynamo!(parseUri(uri), context)) as Sink<unknown>
    dynamoProxy.setRules([{ name: 'hold', match: isAwsOp('BatchWriteItem'), times: 2, action: { kind: 'forward', holdResponseMs: HOLD_MS } }])
    const report = await hydrate(sink)
    assert.is(dynamoProxy.stats.applied.hold, 2)
    assert.ok((report.sink.retries.ETIMEDOUT ?? 0) >= 2, `timed out and retried: ${JSON.stringify(report.sink.retries)}`)
    dynamo.checkClean(await dynamo.state())
  } finally {
    for (const close of closers) await close()
  }
})

test.run()
