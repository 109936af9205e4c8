// The storage sinks under faults: for PostgreSQL (a real server), OpenSearch (the protocol-level test
// server through the real client) and SQL Server (the TDS test server through mssql/tedious), each
// kind of fault a real target produces is injected into a realistic run (a few thousand versioned
// events, several per key, deletes, a filter), and afterwards the target holds exactly what a clean
// run leaves, the report accounts for every event read, and the retries show in it by reason.
import { spawn, type ChildProcess } from 'node:child_process'
import path from 'node:path'
import { Client } from '@opensearch-project/opensearch'
import mssql, { type ConnectionPool } from 'mssql'
import postgres from 'postgres'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { run } from '../../lib/run.js'
import type { RunReport } from '../../lib/report/report.js'
import type { Mapping } from '../../lib/mapping.js'
import { toOpenSearch } from '../../lib/opensearch/sink.js'
import { toPostgres, type ToPostgresOptions } from '../../lib/postgres/sink.js'
import { postgresSocket } from '../../lib/postgres/socket.js'
import { toSqlServer } from '../../lib/mssql/sink.js'
import { readJsonLines } from '../../lib/json/read-lines.js'
import { filter } from '../../lib/stages/filter.js'
import { tap } from '../../lib/stages/tap.js'
import type { Sink } from '../../lib/types.js'
import type { RetryPolicy } from '../../lib/retry.js'
import { ndjson, tempDir } from '../helpers.js'
import { startFaultProxy, type FaultProxy, type FaultRule, type ProxyRequest } from '../servers/fault-proxy.js'
import { startOpenSearchServer, type OpenSearchTestServer } from '../servers/opensearch-server.js'
import { createDatabase, findPostgresBin, startPostgres, type PostgresServer, type TestDatabase } from '../servers/postgres.js'
import { startTcpProxy } from '../servers/tcp-proxy.js'
import { startTdsServer, type RecordedStatement, type TdsServer } from '../servers/tds-server.js'

// ---------------------------------------------------------------------------------------------
// The history every run replays

const EVENTS = 3000
const KEYS = 250
const BATCH = 200
/** Matched events of batch `b` (of BATCH) whose last event is the only write of its hot key there. */
const HOT_BATCHES = [3, 8]
const hotKey = (b: number) => `hot-${b}`
/** Keys written by one event only; a poisoned run makes the target reject them. */
const POISONED = ['solo-542', 'solo-1242', 'solo-1942', 'solo-2642']
const FAST: RetryPolicy = { attempts: 10, minDelayMs: 5, maxDelayMs: 40 }
/** Enough for a server that is down for a second or two. */
const PATIENT: RetryPolicy = { attempts: 25, minDelayMs: 50, maxDelayMs: 400 }

const mapping: Mapping = {
  columns: { id: 'detail.id', version: 'detail.version', amount: 'detail.amount', status: 'detail.status' },
  key: ['id'],
  versionColumn: 'version',
  deleteWhen: { 'detail-type': ['OrderDeleted'] },
}
const matchedPattern = { source: ['shop.orders'] }

/**
 * EVENTS EventBridge events: one in ten from another source (unmatched), keys cycling through KEYS
 * aggregates with rising versions, one in eleven a delete, a few keys written once (`solo-<i>`), and
 * a hot key written early and as the last event of each batch in HOT_BATCHES. `poison` changes the
 * amount of the POISONED keys' only event.
 */
function history(poison?: (amount: number) => unknown): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = []
  let matched = 0
  const hotAt = new Map<number, string>()
  HOT_BATCHES.forEach((b, j) => {
    hotAt.set(5 + j, hotKey(b))
    hotAt.set((b + 1) * BATCH - 1, hotKey(b))
  })
  for (let i = 0; i < EVENTS; i++) {
    const unmatched = i % 10 === 7
    let key = `k${i % KEYS}`
    let type = i % 11 === 5 ? 'OrderDeleted' : 'OrderUpdated'
    let amount: unknown = i % 97
    if (!unmatched) {
      const hot = hotAt.get(matched)
      if (hot) [key, type] = [hot, 'OrderUpdated']
      matched++
    }
    if (i % 100 === 42) {
      key = `solo-${i}`
      type = 'OrderUpdated'
      if (poison && POISONED.includes(key)) amount = poison(i % 97)
    }
    out.push({
      version: '0',
      id: `e${i}`,
      'detail-type': type,
      source: unmatched ? 'shop.audit' : 'shop.orders',
      account: '123456789012',
      time: new Date(Date.UTC(2024, 0, 1) + i * 1000).toISOString(),
      region: 'us-east-1',
      resources: [],
      detail: { id: key, version: i + 1, amount, status: ['placed', 'paid', 'shipped'][i % 3] },
    })
  }
  return out
}

let tmp: Awaited<ReturnType<typeof tempDir>>
const files = { clean: '', poisonedCheck: '', poisonedType: '' }

/** One hook run when the `at`-th matched event passes on its way to the sink. */
interface Hook {
  readonly at: number
  readonly fn: () => Promise<unknown> | unknown
}

/** The pipeline of every test: the NDJSON history, the filter, (a hook), the sink. */
function hydrate(file: string, sink: Sink, hooks: readonly Hook[] = []): Promise<RunReport> {
  const stages = [filter(matchedPattern)] as unknown[]
  if (hooks.length > 0) stages.push(tap((_: unknown, i: number) => hooks.find((h) => h.at === i)?.fn()))
  return run({ source: readJsonLines(file), stages: stages as never, sink })
}

/** Every event read is accounted for; no event fails unless `failed` says so. */
function accounted(report: RunReport, failed = 0): void {
  const { source, filter: f, sink } = report
  assert.is(source.read, EVENTS)
  assert.ok(f.unmatched > 0, 'the filter left some events out')
  assert.is(source.read, f.unmatched + sink.written + sink.skipped + sink.failed, `read = unmatched + written + skipped + failed: ${JSON.stringify({ read: source.read, unmatched: f.unmatched, ...sink, previews: undefined })}`)
  assert.is(sink.failed, failed, `failed: ${JSON.stringify(report.failures.samples.slice(0, 3))}`)
  assert.is(report.status, failed === 0 ? 'ok' : 'partial')
}

/** Retries counted under reasons matching `reason`. */
function retriesOf(report: RunReport, reason: RegExp): number {
  return Object.entries(report.sink.retries).reduce((n, [r, count]) => (reason.test(r) ? n + count : n), 0)
}

function assertRetried(report: RunReport, reason: RegExp, atLeast = 1): void {
  const n = retriesOf(report, reason)
  assert.ok(n >= atLeast, `expected at least ${atLeast} retries for ${reason}, got ${JSON.stringify(report.sink.retries)}`)
}

/**
 * The clean history into `sink` while the server restarts at the 1000th matched event: every event
 * is accounted for, none fails, and retries are counted under `reason`.
 */
async function throughRestart(sink: Sink, restart: () => Promise<void>, reason: RegExp): Promise<void> {
  let restarted: Promise<void> | undefined
  try {
    const report = await hydrate(files.clean, sink, [{ at: 1000, fn: () => void (restarted = restart()) }])
    await restarted
    assert.ok(restarted, 'restarted mid-run')
    accounted(report)
    assertRetried(report, reason)
  } finally {
    await restarted?.catch(() => {})
  }
}

/** The poisoned keys failed alone, with their keys and the target's reason. */
function assertPoisonedFailed(report: RunReport, key: (id: string) => unknown, message: RegExp): void {
  accounted(report, POISONED.length)
  const failures = report.failures.samples
  assert.equal(failures.map((f) => f.key), POISONED.map(key))
  for (const f of failures) {
    assert.is(f.code, 'ERR_WRITE_REJECTED')
    assert.match(f.message, message)
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function until(what: string, check: () => boolean | Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await sleep(10)
  }
}

// ---------------------------------------------------------------------------------------------
// The matrix: one suite per target, one named test per fault

const test = suite('storage sinks under faults: the final state equals a clean run')

let pg: PostgresServer
let pgDb: TestDatabase
let os: OpenSearchTestServer
let tds: TdsServer
const clean = {
  postgres: [] as Record<string, unknown>[],
  opensearch: [] as ReturnType<OpenSearchTestServer['documents']>,
  sqlserver: [] as Record<string, unknown>[],
}

test.before(async () => {
  tmp = await tempDir('eh-faults-')
  files.clean = await tmp.file('clean.ndjson', ndjson(history()))
  files.poisonedCheck = await tmp.file('poisoned-check.ndjson', ndjson(history(() => -1)))
  files.poisonedType = await tmp.file('poisoned-type.ndjson', ndjson(history(() => 'a lot')))
  ;[pg, os, tds] = await Promise.all([startPostgres(), startOpenSearchServer(), startTdsServer()])
  pgDb = await createDatabase(pg, 'sink_faults')

  const pgClean = await pgTarget('clean')
  const report = await hydrate(files.clean, pgClean.sink())
  accounted(report)
  assert.ok(report.sink.deleted > 0, 'the history deletes rows')
  clean.postgres = await pgClean.rows()
  await pgClean.close()
  assert.ok(clean.postgres.length > KEYS / 2)

  const osClean = await osTarget('clean')
  accounted(await hydrate(files.clean, osClean.sink()))
  clean.opensearch = osClean.documents()
  await osClean.close()
  assert.is(clean.opensearch.length, clean.postgres.length)

  const sqlClean = await sqlTarget('clean')
  accounted(await hydrate(files.clean, sqlClean.sink()))
  clean.sqlserver = sqlClean.rows()
  await sqlClean.close()
  assert.equal(clean.sqlserver.map((r) => r.id), clean.postgres.map((r) => r.id))
})

test.after(async () => {
  await pgDb?.drop()
  await Promise.all([pg?.stop(), os?.close(), tds?.close()])
  await tmp?.cleanup()
})

// ---------------------------------------------------------------------------------------------
// PostgreSQL: a real server, reached through a TCP fault proxy

const APP = 'eh-faults-sink'

async function pgTarget(table: string, options: Partial<ToPostgresOptions> = {}) {
  await pgDb.sql.unsafe(`drop table if exists ${table}; create table ${table} (id text primary key, version bigint not null, amount int check (amount >= 0), status text)`)
  const proxy = await startTcpProxy({ host: '127.0.0.1', port: pg.port })
  const sql = postgres(`postgres://postgres@127.0.0.1:${proxy.port}/${pgDb.name}`, {
    socket: postgresSocket,
    max: 2,
    onnotice: () => {},
    connection: { application_name: APP },
  } as Parameters<typeof postgres>[1])
  return {
    proxy,
    sql,
    sink: (extra: Partial<ToPostgresOptions> = {}) =>
      toPostgres({ sql: sql as never, table, mapping, batchSize: BATCH, retry: FAST, ...options, ...extra }),
    rows: async () => [...(await pgDb.sql.unsafe(`select id, version::text as version, amount, status from ${table} order by id`))],
    close: async () => {
      await sql.end({ timeout: 1 })
      await proxy.close()
    },
  }
}

/** The nth client chunk that carries a batch (its parameters hold array literals of the keys). */
function nthBatch(...ordinals: number[]): (chunk: Buffer) => boolean {
  let n = 0
  return (chunk) => chunk.includes('{"') && ordinals.includes(++n)
}

test('PostgreSQL, throttling: deadlocks with a concurrent transaction (40P01) are retried', async () => {
  const t = await pgTarget('pg_deadlock')
  const holders: Promise<void>[] = []
  let deadlocks = 0
  // Another session locks the hot key just before the batch that writes it last; once the batch
  // waits for it (holding the rows it already wrote), it asks for every other row: a lock cycle,
  // and PostgreSQL cancels the batch's transaction (it waited longer, so its deadlock check runs first).
  const lockHot = (b: number) => async () => {
    const other = await pgDb.sql.reserve()
    await other.unsafe('begin')
    await other.unsafe(`set local deadlock_timeout = '30s'`)
    await other.unsafe('select id from pg_deadlock where id = $1 for update', [hotKey(b)])
    holders.push(
      (async () => {
        try {
          await until('the batch to wait for the hot row', async () => {
            const [row] = await pgDb.sql`select count(*)::int as n from pg_stat_activity where application_name = ${APP} and wait_event_type = 'Lock'`
            return row!.n > 0
          })
          await other.unsafe('select id from pg_deadlock where id <> $1 order by id for update', [hotKey(b)])
          deadlocks++
        } finally {
          await other.unsafe('rollback').catch(() => {})
          other.release()
        }
      })(),
    )
  }
  try {
    const report = await hydrate(files.clean, t.sink(), HOT_BATCHES.map((b) => ({ at: (b + 1) * BATCH - 1, fn: lockHot(b) })))
    await Promise.all(holders)
    assert.is(deadlocks, HOT_BATCHES.length)
    accounted(report)
    assertRetried(report, /^40P01$/, HOT_BATCHES.length)
    assert.equal(await t.rows(), clean.postgres)
  } finally {
    await t.close()
  }
})

for (const [drop, what, afterMs] of [
  ['before', 'a batch lost before it reached the server is retried', undefined],
  ['after', 'a batch applied whose answer was lost is retried harmlessly', 150],
] as const) {
  test(`PostgreSQL, dropped connection: ${what}`, async () => {
    const t = await pgTarget(`pg_drop_${drop}`)
    try {
      const when = nthBatch(3, 8)
      for (let i = 0; i < 2; i++) t.proxy.arm({ when, drop, ...(afterMs ? { afterMs } : {}) })
      const report = await hydrate(files.clean, t.sink())
      assert.is(t.proxy.fired, 2)
      accounted(report)
      assertRetried(report, /CONNECTION_CLOSED|ECONNRESET/, 2)
      assert.equal(await t.rows(), clean.postgres)
    } finally {
      await t.close()
    }
  })
}

test('PostgreSQL, restart: pg_ctl restart in the middle of a run is retried through', async () => {
  const t = await pgTarget('pg_restart', { retry: PATIENT })
  let restarted: Promise<void> | undefined
  let locker: ChildProcess | undefined
  let down = false
  try {
    // A batch must be in flight when the server goes (the client waits out a restart for queries
    // sent while it reconnects, so only those in flight fail): another session locks the table,
    // the next batch waits for it, and the restart ends both sessions.
    // (psql holds the lock: a postgres.js client whose session dies mid-transaction can crash the
    // process when it next writes, a bug of the client, not of the sink.)
    const restart = async () => {
      locker = spawn(path.join(findPostgresBin().bin, 'psql'), [pgDb.url, '-c', 'begin', '-c', 'lock table pg_restart in access exclusive mode', '-c', 'select pg_sleep(120)'], { stdio: 'ignore' })
      await until('psql to hold the lock', async () => {
        const [row] = await pgDb.sql`select count(*)::int as n from pg_locks l join pg_class c on c.oid = l.relation where c.relname = 'pg_restart' and l.mode = 'AccessExclusiveLock' and l.granted`
        return row!.n > 0
      })
      restarted = (async () => {
        await until('a batch to wait for the lock', async () => {
          const [row] = await pg.sql`select count(*)::int as n from pg_stat_activity where application_name = ${APP} and wait_event_type = 'Lock'`
          return row!.n > 0
        })
        await pg.restart({ mode: 'fast', downMs: 300, onDown: () => void (down = true) })
      })()
    }
    const report = await hydrate(files.clean, t.sink(), [{ at: 1000, fn: restart }])
    await restarted
    assert.ok(down, 'the server was down mid-run')
    accounted(report)
    assertRetried(report, /CONNECTION|ECONN|57P0/)
    assert.equal(await t.rows(), clean.postgres)
  } finally {
    await restarted?.catch(() => {})
    locker?.kill()
    await t.close()
  }
})

test('PostgreSQL, partial batch failures: rows the table rejects fail alone with their keys; the rest lands', async () => {
  const t = await pgTarget('pg_partial')
  try {
    const report = await hydrate(files.poisonedCheck, t.sink())
    assertPoisonedFailed(report, (id) => ({ id }), /violates check constraint "pg_partial_amount_check"/)
    assert.equal(await t.rows(), clean.postgres.filter((r) => !POISONED.includes(String(r.id))))
  } finally {
    await t.close()
  }
})

test('PostgreSQL, timeouts: a connection that stalls mid-batch is closed after timeoutMs and the batch retried', async () => {
  const t = await pgTarget('pg_timeout', { timeoutMs: 400 })
  try {
    const when = nthBatch(3, 8)
    t.proxy.arm({ when, drop: 'before', stall: true })
    t.proxy.arm({ when, drop: 'after', stall: true })
    const started = Date.now()
    const report = await hydrate(files.clean, t.sink())
    assert.is(t.proxy.fired, 2)
    assert.is(t.proxy.stalled, 0, 'the stalled connections were closed')
    assert.ok(Date.now() - started >= 800, 'each stall lasted the timeout')
    accounted(report)
    assertRetried(report, /^ETIMEDOUT$/, 2)
    assert.equal(await t.rows(), clean.postgres)
  } finally {
    await t.close()
  }
})

test('PostgreSQL, timeouts: timeoutMs is refused for a client it cannot watch (no postgresSocket, or TLS)', () => {
  const plain = postgres(`postgres://postgres@127.0.0.1:${pg.port}/${pgDb.name}`, { max: 1 })
  const tls = postgres(`postgres://postgres@127.0.0.1:${pg.port}/${pgDb.name}`, { max: 1, ssl: 'require', socket: postgresSocket } as Parameters<typeof postgres>[1])
  try {
    assert.throws(() => toPostgres({ sql: plain as never, table: 't', mapping, timeoutMs: 100 }), /postgresSocket/)
    assert.throws(() => toPostgres({ sql: tls as never, table: 't', mapping, timeoutMs: 100 }), /TLS/)
    assert.throws(() => toPostgres({ sql: plain as never, table: 't', mapping, timeoutMs: 0 }), /`timeoutMs` to be an integer >= 1, got `0`/)
  } finally {
    void plain.end({ timeout: 0 })
    void tls.end({ timeout: 0 })
  }
})

test('PostgreSQL append, timeouts: a COMMIT whose answer stalls is settled by txid_status, never copied twice', async () => {
  const appendMapping: Mapping = { columns: mapping.columns, key: ['id'] }
  const counts = (table: string) => pgDb.sql.unsafe(`select id, version::text as version, count(*)::int as n from ${table} group by 1, 2 order by 1, 2`)
  const make = async (table: string) => {
    await pgDb.sql.unsafe(`drop table if exists ${table}; create table ${table} (id text, version bigint, amount int, status text)`)
    const proxy = await startTcpProxy({ host: '127.0.0.1', port: pg.port })
    const sql = postgres(`postgres://postgres@127.0.0.1:${proxy.port}/${pgDb.name}`, { socket: postgresSocket, max: 2, onnotice: () => {} } as Parameters<typeof postgres>[1])
    const sink = toPostgres({ sql: sql as never, table, mapping: appendMapping, mode: 'append', batchSize: BATCH, retry: FAST, timeoutMs: 400 })
    return { proxy, sink, close: async () => (await sql.end({ timeout: 1 }), await proxy.close()) }
  }
  const base = await make('pg_append_clean')
  const stalled = await make('pg_append_stalled')
  try {
    accounted(await hydrate(files.clean, base.sink))
    let commits = 0
    stalled.proxy.arm({ when: (c) => c.includes('commit') && ++commits === 4, drop: 'after', stall: true })
    const report = await hydrate(files.clean, stalled.sink)
    assert.is(stalled.proxy.fired, 1)
    accounted(report)
    const expected = await counts('pg_append_clean')
    assert.ok(expected.every((r) => r.n === 1))
    assert.equal(await counts('pg_append_stalled'), expected)
  } finally {
    await base.close()
    await stalled.close()
  }
})

// ---------------------------------------------------------------------------------------------
// OpenSearch: the protocol-level test server through the real client, behind the HTTP fault proxy

let indexNo = 0

async function osTarget(name: string, { rules = [] as FaultRule[], direct = false, requestTimeout = 10_000, retry = FAST } = {}) {
  const index = `${name.replace(/_/g, '-')}-${++indexNo}`
  const proxy: FaultProxy = await startFaultProxy({ target: os.url, rules })
  const client = new Client({ node: direct ? os.url : proxy.url, requestTimeout })
  await client.indices.create({
    index,
    body: { mappings: { properties: { id: { type: 'keyword' }, version: { type: 'long' }, amount: { type: 'long' }, status: { type: 'keyword' } } } },
  } as never)
  const before = os.stats.bulkItemCounts.length
  return {
    index,
    proxy,
    sink: () => toOpenSearch({ client, index, mapping, batchSize: BATCH, retry }),
    documents: () => os.documents(index),
    /** Bulk requests the server handled during this test. */
    bulks: () => os.stats.bulkItemCounts.length - before,
    close: async () => {
      await client.close()
      await proxy.close()
    },
  }
}

const isBulk = (r: ProxyRequest) => (r.method === 'POST' || r.method === 'PUT') && r.url.split('?')[0]!.endsWith('/_bulk')

/** Applies to the nth bulk requests that reach the proxy (1-based). */
function nthBulk(...ordinals: number[]): (r: ProxyRequest) => boolean {
  let n = 0
  return (r) => isBulk(r) && ordinals.includes(++n)
}

/** What an OpenSearch node under write pressure answers for a whole request. */
const rejected429 = {
  kind: 'respond' as const,
  status: 429,
  headers: { 'content-type': 'application/json; charset=UTF-8' },
  body: JSON.stringify({
    error: {
      root_cause: [{ type: 'rejected_execution_exception', reason: 'rejected execution of coordinating operation [coordinating_and_primary_bytes=0, replica_bytes=0, all_bytes=0, coordinating_operation_bytes=104857600, max_coordinating_and_primary_bytes=53687091]' }],
      type: 'rejected_execution_exception',
      reason: 'rejected execution of coordinating operation',
    },
    status: 429,
  }),
}

/** Items of these ids are rejected with 429 the first `times` times they reach the server. */
function itemStorm(ids: (id: string) => boolean, times: number) {
  let rejected = 0
  os.faults.bulkItem = ({ id, attempt }) => (id !== undefined && ids(id) && attempt <= times ? (rejected++, 429) : undefined)
  return () => rejected
}

test.after.each(() => {
  delete os.faults.bulkItem
  tds.clearFaults()
})

test('OpenSearch, throttling: 429 on whole bulk requests and on items (rejected_execution_exception) are retried', async () => {
  const t = await osTarget('os_throttle', { rules: [{ name: 'bulk-429', match: nthBulk(2, 3, 5, 8, 9, 12), action: rejected429 }] })
  try {
    // Fresh index, fresh ids: the server counts attempts per index and id.
    const rejectedItems = itemStorm((id) => /[37]$/.test(id), 2)
    const report = await hydrate(files.clean, t.sink())
    assert.is(t.proxy.stats.applied['bulk-429'], 6)
    assert.ok(rejectedItems() >= 50, `${rejectedItems()} items rejected`)
    accounted(report)
    assertRetried(report, /^rejected_execution_exception$/, 6 + 2)
    assert.equal(t.documents(), clean.opensearch)
  } finally {
    await t.close()
  }
})

for (const [name, what, action] of [
  ['drop', 'a bulk dropped before it reached the server is retried', { kind: 'drop' }],
  ['lost-answer', 'a bulk applied whose answer was lost is retried and counted once', { kind: 'forward', dropResponse: true }],
] as const) {
  test(`OpenSearch, dropped connection: ${what}`, async () => {
    const t = await osTarget(`os_${name.replace('-', '_')}`, { rules: [{ name, match: nthBulk(3, 7), action }] })
    try {
      const report = await hydrate(files.clean, t.sink())
      assert.is(t.proxy.stats.applied[name], 2)
      accounted(report)
      assertRetried(report, /ConnectionError|ECONNRESET|socket/i, 2)
      assert.equal(t.documents(), clean.opensearch)
    } finally {
      await t.close()
    }
  })
}

test('OpenSearch, restart: the node restarts mid-run with its data kept and the sink retries through it', async () => {
  const t = await osTarget('os_restart', { direct: true, retry: PATIENT })
  try {
    await throughRestart(t.sink(), () => os.restart({ downMs: 500 }), /ConnectionError|ECONN/)
    assert.equal(t.documents(), clean.opensearch)
  } finally {
    await t.close()
  }
})

test('OpenSearch, partial batch failures: 429 items are retried, a document the mapping refuses fails alone with its _id', async () => {
  const t = await osTarget('os_partial')
  try {
    const rejectedItems = itemStorm((id) => id.endsWith('1'), 1)
    const report = await hydrate(files.poisonedType, t.sink())
    assert.ok(rejectedItems() > 0)
    assertPoisonedFailed(report, (id) => id, /mapper_parsing_exception: failed to parse field \[amount\] of type \[long\]/)
    assertRetried(report, /^rejected_execution_exception$/)
    assert.equal(t.documents(), clean.opensearch.filter((d) => !POISONED.includes(d._id)))
  } finally {
    await t.close()
  }
})

test('OpenSearch, timeouts: bulks held past the client requestTimeout are retried; the late ones change nothing', async () => {
  const t = await osTarget('os_timeout', { requestTimeout: 500 })
  try {
    let seen = 0
    t.proxy.setRules([
      { name: 'count', match: (r) => isBulk(r) && (seen++, false), action: { kind: 'forward' } },
      { name: 'slow', match: nthBulk(3, 7), action: { kind: 'delay', ms: 1500 } },
    ])
    const report = await hydrate(files.clean, t.sink())
    assert.is(t.proxy.stats.applied.slow, 2)
    accounted(report)
    assertRetried(report, /TimeoutError/, 2)
    // The held bulks still reach the server after the run: external versions make them stale.
    await until('the held bulks to land', () => t.bulks() === seen)
    assert.equal(t.documents(), clean.opensearch)
  } finally {
    await t.close()
  }
})

// ---------------------------------------------------------------------------------------------
// SQL Server: the TDS test server through mssql/tedious, with its fault hooks

async function sqlTarget(table: string, { retry = FAST, requestTimeout = 15_000 } = {}) {
  const pool: ConnectionPool = await new mssql.ConnectionPool(tds.config({ requestTimeout })).connect()
  pool.on('error', () => {})
  await pool
    .request()
    .batch(
      `DROP TABLE IF EXISTS [dbo].[${table}]; CREATE TABLE [dbo].[${table}] ([id] nvarchar(64) NOT NULL PRIMARY KEY, [version] bigint NOT NULL, [amount] int NULL CHECK ([amount] >= 0), [status] nvarchar(20) NULL);`,
    )
  tds.clearStatements()
  return {
    sink: () => toSqlServer({ pool, table: `dbo.${table}`, mapping, batchSize: BATCH, retry }),
    rows: () => tds.rows(`dbo.${table}`).sort((a, b) => (String(a.id) < String(b.id) ? -1 : 1)),
    close: () => pool.close(),
  }
}

/** The MERGE statements received so far, this one included (statements are recorded before faults apply). */
const merges = () => tds.statements.filter((s) => s.sql?.startsWith('MERGE')).length
const nthMerge = (...ordinals: number[]) => (s: RecordedStatement) => !!s.sql?.startsWith('MERGE') && ordinals.includes(merges())

test('SQL Server, throttling: deadlock victims (1205) and Azure SQL throttling (40501, 40613, 10928) are retried', async () => {
  const t = await sqlTarget('sql_throttle')
  try {
    tds.inject({ kind: 'error', number: 1205, times: 3, when: nthMerge(2, 5, 9) })
    tds.inject({ kind: 'error', number: 40501, message: 'The service is currently busy. Retry the request after 10 seconds. Incident ID: 4a4bd1ff. Code: 4194307.', times: 2, when: nthMerge(3, 11) })
    tds.inject({ kind: 'error', number: 40613, message: "Database 'hydrator' on server 'hydrator-tds-test' is not currently available. Please retry the connection later.", when: nthMerge(7) })
    tds.inject({ kind: 'error', number: 10928, message: 'Resource ID : 1. The request limit for the database is 60 and has been reached.', when: nthMerge(13) })
    const report = await hydrate(files.clean, t.sink())
    accounted(report)
    assert.equal(
      Object.fromEntries(Object.entries(report.sink.retries).filter(([r]) => r.startsWith('SQL Server error'))),
      { 'SQL Server error 1205': 3, 'SQL Server error 40501': 2, 'SQL Server error 40613': 1, 'SQL Server error 10928': 1 },
    )
    assert.equal(t.rows(), clean.sqlserver)
  } finally {
    await t.close()
  }
})

test('SQL Server, dropped connection: a connection dropped before the MERGE ran is retried', async () => {
  const t = await sqlTarget('sql_drop_before')
  try {
    tds.inject({ kind: 'drop', times: 2, when: nthMerge(3, 8) })
    const report = await hydrate(files.clean, t.sink())
    assert.is(tds.statements.filter((s) => s.error?.number === -1).length, 2)
    accounted(report)
    assertRetried(report, /^E[A-Z]+$/, 2)
    assert.equal(t.rows(), clean.sqlserver)
  } finally {
    await t.close()
  }
})

test('SQL Server, dropped connection: after the MERGE ran (rolled back) and after the COMMIT applied, the batch is retried harmlessly', async () => {
  const t = await sqlTarget('sql_drop_after')
  try {
    let commits = 0
    tds.inject({ kind: 'drop', execute: true, when: nthMerge(3) })
    tds.inject({ kind: 'drop', execute: true, when: (s) => s.kind === 'commit' && ++commits === 7 })
    const report = await hydrate(files.clean, t.sink())
    assert.is(commits, 7, 'the COMMIT was dropped after it applied')
    accounted(report)
    assertRetried(report, /^E[A-Z]+$/, 2)
    assert.equal(t.rows(), clean.sqlserver)
  } finally {
    await t.close()
  }
})

test('SQL Server, restart: the server restarts mid-run with its tables kept and the sink retries through it', async () => {
  const t = await sqlTarget('sql_restart', { retry: PATIENT })
  try {
    await throughRestart(t.sink(), () => tds.restart({ downMs: 500 }), /^E[A-Z]+$/)
    assert.equal(t.rows(), clean.sqlserver)
  } finally {
    await t.close()
  }
})

test('SQL Server, partial batch failures: rows a CHECK rejects fail alone with their keys; the rest lands', async () => {
  const t = await sqlTarget('sql_partial')
  try {
    const report = await hydrate(files.poisonedCheck, t.sink())
    assertPoisonedFailed(report, (id) => ({ id }), /\(SQL Server error 547\): .*CHECK constraint/)
    assert.equal(t.rows(), clean.sqlserver.filter((r) => !POISONED.includes(String(r.id))))
  } finally {
    await t.close()
  }
})

test('SQL Server, timeouts: a MERGE held past the mssql requestTimeout is cancelled, rolled back and retried', async () => {
  const t = await sqlTarget('sql_timeout', { requestTimeout: 500 })
  try {
    const cancelledBefore = tds.cancelled
    tds.inject({ kind: 'delay', ms: 2500, times: 2, when: nthMerge(3, 8) })
    const report = await hydrate(files.clean, t.sink())
    assert.is(tds.cancelled - cancelledBefore, 2, 'the client cancelled both held requests')
    accounted(report)
    assertRetried(report, /^ETIMEOUT$/, 2)
    assert.equal(t.rows(), clean.sqlserver)
  } finally {
    await t.close()
  }
})

test.run()
