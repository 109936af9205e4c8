// SIGTERM and SIGKILL at random points, then resume from the checkpoint: for every sink with a
// checkpoint story, the target ends as a clean run leaves it. SIGTERM settles what is in flight, so
// nothing is lost or repeated; after SIGKILL the NDJSON sink and versioned writes still converge
// exactly, appends and invocations may repeat only what was in flight at the kill.
// The points come from a seeded PRNG: CRASH_SEED=<seed> replays them (delays are shares of the clean
// run's busy time, so they scale with the machine). FULL=1 runs larger inputs and 4 points.
import { readFile, stat } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { ScanCommand } from '@aws-sdk/lib-dynamodb'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { createTable, dynamoClients, startDynalite, type DynaliteServer } from '../servers/dynalite.js'
import { startLambdaServer, type LambdaServer } from '../servers/lambda-server.js'
import { createDatabase, startPostgres, type PostgresServer, type TestDatabase } from '../servers/postgres.js'
import { ndjson, orderEvents, tempDir } from '../helpers.js'
import { killLeftovers } from './cli-child.js'
import { crashPoints, diffRows, multiset, SEED, type CrashPoint } from './crash-points.js'

const FULL = Boolean(process.env.FULL)
const NDJSON_COUNT = FULL ? 200_000 : 40_000
const POSTGRES_COUNT = FULL ? 100_000 : 20_000
// Versioned DynamoDB writes are one conditional request per item: dynalite takes 1,000-2,000 a
// second here, so 4,000 events already make a run of seconds, and each of the 5 runs costs that.
const DYNAMO_COUNT = FULL ? 30_000 : 4_000
const LAMBDA_COUNT = FULL ? 6_000 : 1_000
const BATCH_SIZE = 200
const CONCURRENCY = 4
const MAX_BUFFERED = 16
const FILTER = '{"source":["orders","users"]}'

const recorderPath = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/handlers/order-recorder.mjs')
type Recorder = {
  deliveries: { id: string; key: string; seq: number }[]
  lastByKey: Map<string, string>
  reset(options?: { maxDelayMs?: number }): void
}

const suiteOf = suite('crash signals: SIGTERM and SIGKILL at random points, then resume')
// CRASH_ONLY=<text> runs only the tests whose name contains it (e.g. CRASH_ONLY=DynamoDB), to replay one sink.
const only = process.env.CRASH_ONLY
const test = Object.assign(
  (name: string, fn: () => Promise<void>) => (only && !name.toLowerCase().includes(only.toLowerCase()) ? suiteOf.skip(name, fn) : suiteOf(name, fn)),
  { before: suiteOf.before, after: suiteOf.after, run: suiteOf.run },
)
let tmp: Awaited<ReturnType<typeof tempDir>>
let pg: PostgresServer | undefined
let db: TestDatabase | undefined
let dynamo: DynaliteServer | undefined
let lambda: LambdaServer | undefined

test.before(async () => {
  tmp = await tempDir('eh-crash-signals-')
  console.log(`  crash signals: CRASH_SEED=${SEED}${FULL ? ' (FULL)' : ''}`)
})
test.after(async () => {
  const left = await killLeftovers()
  if (left > 0) console.log(`  crash signals: killed ${left} leftover CLI child(ren)`)
  await db?.drop()
  await pg?.stop()
  await dynamo?.close()
  await lambda?.close()
  await tmp?.cleanup()
})

/**
 * Events through a filter that drops about 1 in 7 (`audit`). Most keys are distinct; every 10th
 * event updates one of 37 repeated keys (`r0`..`r36`) with a higher version.
 */
function storageEvents(n: number): Record<string, unknown>[] {
  return Array.from({ length: n }, (_, i) => {
    const source = i % 7 === 3 ? 'audit' : i % 3 === 0 ? 'orders' : 'users'
    return {
      id: `e${i}`,
      source,
      'detail-type': source === 'orders' ? 'OrderPlaced' : source === 'users' ? 'UserCreated' : 'Audited',
      detail: { k: i % 10 === 0 ? `r${i % 37}` : `k${i}`, v: i, pad: 'x'.repeat(i % 40) },
    }
  })
}

const MAPPING = ['--column', 'k=detail.k', '--column', 'v=detail.v', '--column', 'dt=detail-type', '--key', 'k']
const VERSIONED = [...MAPPING, '--version-column', 'v']

test('NDJSON sink: the output equals a clean run byte for byte', async () => {
  const input = await tmp.file('ndjson-in.ndjson', ndjson(storageEvents(NDJSON_COUNT)))
  await crashPoints<string, string>(tmp.dir, {
    name: 'NDJSON',
    fresh: async (id) => path.join(tmp.dir, `out-${id}.ndjson`),
    args: (out) => ['--source', `json:${input}`, '--filter', FILTER, '--sink', `ndjson:${out}`],
    underWay: async (out) => (await stat(out)).size > 0,
    snapshot: (out) => readFile(out, 'utf8'),
    verify(expected, got, point) {
      if (got === expected) return
      const a = expected.split('\n')
      const b = got.split('\n')
      let line = 0
      while (line < a.length && a[line] === b[line]) line++
      assert.unreachable(
        `${point.label}: the output differs from the clean run's: ${got.length} bytes and ${b.length - 1} lines, expected ${expected.length} bytes and ${a.length - 1} lines; first difference at line ${line + 1}: expected ${JSON.stringify(a[line]?.slice(0, 80))}, got ${JSON.stringify(b[line]?.slice(0, 80))}`,
      )
    },
  })
})

async function postgresDb(): Promise<TestDatabase> {
  if (!db) {
    pg = await startPostgres()
    db = await createDatabase(pg, 'crash_signals')
  }
  return db
}

test('PostgreSQL upsert, versioned: the table equals a clean run', async () => {
  const { sql, name } = await postgresDb()
  const input = await tmp.file('postgres-in.ndjson', ndjson(storageEvents(POSTGRES_COUNT)))
  const sink = (table: string) => `postgres://postgres@127.0.0.1:${pg!.port}/${name}?table=${table}`
  await crashPoints<string, Map<string, string>>(tmp.dir, {
    name: 'PostgreSQL upsert',
    async fresh(id) {
      const table = `upsert_${id.replace(/\W/g, '_')}`
      await sql.unsafe(`create table ${table} (k text primary key, v bigint not null, dt text)`)
      return table
    },
    args: (table) => ['--source', `json:${input}`, '--filter', FILTER, '--sink', sink(table), ...VERSIONED, '--batch-size', String(BATCH_SIZE)],
    underWay: async (table) => (await sql.unsafe(`select exists (select from ${table}) as some`))[0]!.some === true,
    async snapshot(table) {
      const rows = await sql.unsafe(`select k, v::text as v, dt from ${table} order by k`)
      return new Map(rows.map((r) => [r.k as string, `v=${r.v} dt=${r.dt}`]))
    },
    verify(expected, got, point) {
      const diff = diffRows(expected, got)
      assert.ok(diff === '', `${point.label}: the table differs from the clean run's (${expected.size} rows): ${diff}`)
    },
  })
})

test('PostgreSQL append: SIGTERM leaves exactly the clean rows, SIGKILL at most 2 batches repeated', async () => {
  const { sql, name } = await postgresDb()
  const input = await tmp.file('postgres-in.ndjson', ndjson(storageEvents(POSTGRES_COUNT)))
  const sink = (table: string) => `postgres://postgres@127.0.0.1:${pg!.port}/${name}?table=${table}&mode=append`
  await crashPoints<string, Map<string, number>>(tmp.dir, {
    name: 'PostgreSQL append',
    async fresh(id) {
      const table = `append_${id.replace(/\W/g, '_')}`
      // No primary key, no unique index: rows are only appended (the mapping still names a key
      // column, as every mapping must).
      await sql.unsafe(`create table ${table} (k text, v bigint, dt text)`)
      return table
    },
    args: (table) => ['--source', `json:${input}`, '--filter', FILTER, '--sink', sink(table), ...MAPPING, '--batch-size', String(BATCH_SIZE)],
    underWay: async (table) => (await sql.unsafe(`select exists (select from ${table}) as some`))[0]!.some === true,
    async snapshot(table) {
      const rows = await sql.unsafe(`select k, v::text as v, dt from ${table}`)
      return multiset(rows.map((r) => `${r.k} v=${r.v} dt=${r.dt}`))
    },
    verify(expected, got, point) {
      const total = (m: Map<string, number>) => [...m.values()].reduce((a, b) => a + b, 0)
      const duplicates = total(got) - got.size
      const distinct = diffRows(new Map([...expected.keys()].map((k) => [k, ''])), new Map([...got.keys()].map((k) => [k, ''])))
      console.log(`    ${point.signal} #${point.index}: ${total(got)} rows, ${got.size} distinct, ${duplicates} duplicate(s) (clean: ${total(expected)})`)
      assert.ok(distinct === '', `${point.label}: the distinct rows differ from the clean run's (${expected.size}): ${distinct}`)
      if (point.signal === 'SIGTERM') {
        assert.is(duplicates, 0, `${point.label}: no row is written twice after SIGTERM; found ${duplicates} duplicate(s)`)
      } else {
        assert.ok(
          duplicates <= 2 * BATCH_SIZE,
          `${point.label}: at most 2 × batch size (${2 * BATCH_SIZE}) rows are repeated after SIGKILL; found ${duplicates} duplicate(s)`,
        )
      }
    },
  })
})

test('DynamoDB, versioned: the items equal a clean run', async () => {
  dynamo = await startDynalite()
  const { client, doc, destroy } = dynamoClients(dynamo.endpoint)
  const input = await tmp.file('dynamo-in.ndjson', ndjson(storageEvents(DYNAMO_COUNT)))
  const sink = (table: string) => `dynamo:${table}?endpoint=${encodeURIComponent(dynamo!.endpoint)}&region=us-east-1`
  try {
    await crashPoints<string, Map<string, string>>(tmp.dir, {
      name: 'DynamoDB',
      async fresh(id) {
        const table = `items-${id}`
        await createTable(client, table, { partition: ['k', 'S'] })
        return table
      },
      args: (table) => ['--source', `json:${input}`, '--filter', FILTER, '--sink', sink(table), ...VERSIONED, '--concurrency', String(CONCURRENCY)],
      underWay: async (table) => ((await doc.send(new ScanCommand({ TableName: table, Limit: 1 }))).Count ?? 0) > 0,
      async snapshot(table) {
        const items = new Map<string, string>()
        let ExclusiveStartKey: Record<string, unknown> | undefined
        do {
          const page = await doc.send(new ScanCommand({ TableName: table, ExclusiveStartKey }))
          for (const item of page.Items ?? []) items.set(String(item.k), `v=${item.v} dt=${item.dt}`)
          ExclusiveStartKey = page.LastEvaluatedKey
        } while (ExclusiveStartKey)
        return items
      },
      verify(expected, got, point) {
        const diff = diffRows(expected, got)
        assert.ok(diff === '', `${point.label}: the items differ from the clean run's (${expected.size} items): ${diff}`)
      },
    })
  } finally {
    destroy()
  }
})

test('Lambda with an order key: SIGTERM delivers each event once in key order, SIGKILL repeats only what was in flight', async () => {
  const recorder = (await import(recorderPath)) as Recorder
  lambda = await startLambdaServer({ functions: { projector: { module: recorderPath } } })
  // EventBridge events on 40 aggregates; every 6th is from another source and filtered out.
  const events = orderEvents(LAMBDA_COUNT, { keys: 40 }).map((e, i) => (i % 6 === 5 ? { ...e, source: 'audit' } : e))
  const input = await tmp.file('lambda-in.ndjson', ndjson(events))
  const sink = `lambda:projector?endpoint=${encodeURIComponent(lambda.endpoint)}&region=us-east-1`
  type Deliveries = { deliveries: Recorder['deliveries']; lastByKey: Map<string, string> }
  const bound = 4 * (CONCURRENCY + MAX_BUFFERED)
  await crashPoints<string, Deliveries>(tmp.dir, {
    name: 'Lambda',
    async fresh() {
      recorder.reset({ maxDelayMs: 3 })
      return 'projector'
    },
    args: () => [
      '--source',
      `json:${input}`,
      '--filter',
      FILTER,
      '--sink',
      sink,
      '--concurrency',
      String(CONCURRENCY),
      '--max-buffered',
      String(MAX_BUFFERED),
      '--order-key',
      'detail.aggregateId',
    ],
    underWay: async () => recorder.deliveries.length > 0,
    snapshot: async () => ({ deliveries: [...recorder.deliveries], lastByKey: new Map(recorder.lastByKey) }),
    verify(expected, got, point: CrashPoint) {
      const wanted = multiset(expected.deliveries.map((d) => d.id))
      assert.ok([...wanted.values()].every((n) => n === 1), `${point.label}: the clean run delivered every event once`)
      const times = multiset(got.deliveries.map((d) => d.id))
      const missing = [...wanted.keys()].filter((id) => !times.has(id))
      const unexpected = [...times.keys()].filter((id) => !wanted.has(id))
      const duplicates = got.deliveries.length - times.size
      console.log(`    ${point.signal} #${point.index}: ${got.deliveries.length} deliveries of ${times.size} events, ${duplicates} duplicate(s) (clean: ${wanted.size})`)
      assert.ok(missing.length === 0, `${point.label}: ${missing.length} event(s) never delivered (${missing.slice(0, 5).join(', ')})`)
      assert.ok(unexpected.length === 0, `${point.label}: ${unexpected.length} delivered event(s) the filter drops (${unexpected.slice(0, 5).join(', ')})`)

      // Per aggregate: every delivery (SIGTERM) or every first delivery (SIGKILL) in source order.
      const firstOnly = point.signal === 'SIGKILL'
      const seen = new Set<string>()
      const lastSeq = new Map<string, number>()
      const outOfOrder: string[] = []
      for (const d of got.deliveries) {
        if (firstOnly && seen.has(d.id)) continue
        seen.add(d.id)
        const before = lastSeq.get(d.key)
        if (before !== undefined && d.seq <= before) outOfOrder.push(`${d.key}: seq ${d.seq} after ${before}`)
        lastSeq.set(d.key, d.seq)
      }
      assert.ok(
        outOfOrder.length === 0,
        `${point.label}: ${firstOnly ? 'first deliveries' : 'deliveries'} per aggregate out of source order, ${outOfOrder.length} time(s): ${outOfOrder.slice(0, 5).join('; ')}`,
      )
      if (point.signal === 'SIGTERM') {
        const twice = [...times].filter(([, n]) => n > 1).map(([id, n]) => `${id} ×${n}`)
        assert.ok(twice.length === 0, `${point.label}: every event is delivered exactly once over all runs; ${twice.length} more than once (${twice.slice(0, 5).join(', ')})`)
      } else {
        const diff = diffRows(expected.lastByKey, got.lastByKey)
        assert.ok(diff === '', `${point.label}: the last delivery per aggregate is its last event, as in the clean run: ${diff}`)
        assert.ok(
          duplicates <= bound,
          `${point.label}: at most 4 × (concurrency ${CONCURRENCY} + max buffered ${MAX_BUFFERED}) = ${bound} deliveries repeat after SIGKILL; found ${duplicates}`,
        )
      }
    },
  })
})

test.run()
