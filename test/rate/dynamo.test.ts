// --rate auto against a DynamoDB table that takes at most 300 writes a second: dynalite behind the
// fault proxy, whose token bucket answers BatchWriteItem with UnprocessedItems for what it cannot
// take and 400 ProvisionedThroughputExceededException when it can take nothing. The run goes
// through hydrate() as the CLI does. It must converge below the limit, meet few throttles once the
// first seconds are over, and lose nothing: every event in the table once, the report adding up.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true'
import { paginateScan } from '@aws-sdk/lib-dynamodb'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { hydrate } from '../../lib/hydrate.js'
import { formatReport } from '../../lib/report/format.js'
import { isRunReport } from '../../lib/report/validate.js'
import { events, ndjson, tempDir } from '../helpers.js'
import { createTable, dynamoClients, dynamoEnv, startDynalite, type DynaliteServer } from '../servers/dynalite.js'
import { dynamoRateLimit, startFaultProxy, type FaultProxy } from '../servers/fault-proxy.js'

const LIMIT = 300
const COUNT = 1200
const input = events(COUNT)

const test = suite('--rate auto: DynamoDB')
let tmp: Awaited<ReturnType<typeof tempDir>>
let file: string
let dynalite: DynaliteServer
let direct: ReturnType<typeof dynamoClients>
let proxy: FaultProxy

test.before(async () => {
  tmp = await tempDir('eh-rate-dynamo-')
  file = await tmp.file('events.ndjson', ndjson(input))
  dynalite = await startDynalite()
  direct = dynamoClients(dynalite.endpoint)
  proxy = await startFaultProxy({ target: dynalite.endpoint })
})

test.after(async () => {
  direct?.destroy()
  await proxy?.close()
  await dynalite?.close()
  await tmp?.cleanup()
})

async function ids(table: string): Promise<string[]> {
  const out: string[] = []
  for await (const page of paginateScan({ client: direct.doc }, { TableName: table })) for (const item of page.Items ?? []) out.push(item.id as string)
  return out
}

test('converges below the table’s throughput, throttles fade after the first seconds, nothing is lost', async () => {
  await createTable(direct.client, 'rated', { partition: ['id', 'S'] })
  const limit = dynamoRateLimit({ perSecond: LIMIT, burst: 50 })
  proxy.setRules([limit.rule])
  const rates: number[] = []
  const report = await hydrate({
    source: `json:${file}`,
    sink: 'dynamo:rated',
    rate: 'auto',
    maxRate: '800/s',
    env: dynamoEnv(proxy.url),
    onProgress: (p) => p.ratePerSecond !== undefined && rates.push(p.ratePerSecond),
  })
  assert.ok(isRunReport(report))

  // Nothing lost: every event in the table once, every write admitted once, the report adds up.
  assert.is(report.status, 'ok', JSON.stringify(report.failures.samples.slice(0, 3)))
  assert.is(report.source.read, COUNT)
  assert.is(report.sink.written, COUNT)
  assert.is(report.sink.failed, 0)
  const stored = await ids('rated')
  assert.is(stored.length, COUNT)
  assert.is(new Set(stored).size, COUNT)
  assert.is(limit.log.admitted, COUNT, 'each write reached the table once')

  // It met the limit, backed off, and says so.
  const rate = report.sink.rate!
  assert.ok(rate, 'the report has sink.rate')
  assert.is(rate.startPerSecond, 80)
  assert.is(rate.maxPerSecond, 800)
  assert.ok(rate.throttles > 0 && rate.decreases > 0, JSON.stringify(rate))
  const reasons = Object.keys(rate.throttledBy)
  assert.ok(reasons.every((r) => r === 'UnprocessedItems' || r === 'ProvisionedThroughputExceededException'), reasons.join())
  assert.ok(rate.backoffMs > 0, JSON.stringify(rate))
  assert.ok(rate.decreases <= rate.throttles)

  // Converged below the limit: the rate it settled at, and what the table took in the last seconds.
  assert.ok(rate.settledPerSecond <= LIMIT * 1.1 && rate.settledPerSecond >= LIMIT * 0.5, `settled at ${rate.settledPerSecond}/s`)
  assert.ok(rate.peakPerSecond <= LIMIT * 2, `peak ${rate.peakPerSecond}/s`)

  // After the first seconds the throttles are a small share of what was sent.
  const end = limit.log.entries.at(-1)!.at
  const later = limit.log.entries.filter((e) => e.at >= 3000)
  const refused = later.reduce((n, e) => n + e.refused, 0)
  const sent = later.reduce((n, e) => n + e.admitted + e.refused, 0)
  assert.ok(sent > 0, `the run lasted past 3 s (${end.toFixed(0)} ms)`)
  assert.ok(refused / sent < 0.1, `${refused} of ${sent} writes refused after 3 s`)
  const throughput = (later.reduce((n, e) => n + e.admitted, 0) * 1000) / Math.max(1, end - 3000)
  assert.ok(throughput <= LIMIT * 1.05, `took ${throughput.toFixed(0)}/s after 3 s`)

  // The progress line saw the rate move; the text report names it.
  assert.ok(rates.length > 0 && Math.max(...rates) > 80, `progress rates ${rates.map(Math.round).join(',')}`)
  assert.match(formatReport(report), /rate {5}auto: settled at \d+\/s \(started at 80\/s, peak \d+\/s, ceiling 800\/s\); \d+ throttle/)
})

test('a dry run says where the rate would start, and sends nothing', async () => {
  await createTable(direct.client, 'dry', { partition: ['id', 'S'] })
  const limit = dynamoRateLimit({ perSecond: LIMIT })
  proxy.setRules([limit.rule])
  const report = await hydrate({ source: `json:${file}`, sink: 'dynamo:dry', rate: 'auto', maxRate: 500, dryRun: true, env: dynamoEnv(proxy.url) })
  assert.is(report.status, 'ok')
  assert.is(report.sink.written, COUNT)
  assert.is(limit.log.admitted + limit.log.refused, 0)
  assert.is(report.sink.rate?.startPerSecond, 50)
  assert.is(report.sink.rate?.throttles, 0)
  assert.match(formatReport(report), /rate {5}auto: would start at 50\/s, ceiling 500\/s/)
})

test('bad --rate / --max-rate values are refused before anything is read', async () => {
  const cases: [Record<string, unknown>, RegExp][] = [
    [{ rate: 'fast' }, /--rate.*`fast`.*auto/],
    [{ rate: '50/s', maxRate: '100/s' }, /--max-rate is the ceiling of --rate auto/],
    [{ maxRate: '100/s' }, /--max-rate is the ceiling of --rate auto/],
    [{ rate: 'auto', maxRate: 'lots' }, /--max-rate.*`lots`/],
    [{ rate: 'auto', maxRate: 0 }, /--max-rate.*`0`/],
  ]
  for (const [options, message] of cases) {
    try {
      await hydrate({ source: `json:${file}`, sink: 'dynamo:dry', env: dynamoEnv(proxy.url), ...options })
      assert.unreachable(`accepted ${JSON.stringify(options)}`)
    } catch (error) {
      assert.match((error as Error).message, message)
    }
  }
})

test.run()
