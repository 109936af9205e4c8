import postgres, { type Sql } from 'postgres'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { HydratorError } from '../../lib/errors.js'
import type { Mapping } from '../../lib/mapping.js'
import { postgresPlugin } from '../../lib/postgres/plugin.js'
import { parseUri, type FactoryContext } from '../../lib/registry.js'
import { toPostgres, type ToPostgresOptions } from '../../lib/postgres/sink.js'
import { postgresSocket } from '../../lib/postgres/socket.js'
import type { SinkResult } from '../../lib/types.js'
import { startTcpProxy } from '../servers/tcp-proxy.js'
import { createDatabase, freePort, startPostgres, type PostgresServer, type TestDatabase } from '../servers/postgres.js'
import { factoryContext } from '../helpers.js'

const APP = 'eh-sink-under-test'
const test = suite<{ server: PostgresServer; db: TestDatabase; sql: Sql }>('toPostgres', {} as never)

test.before(async (context) => {
  context.server = await startPostgres()
  context.db = await createDatabase(context.server, 'to_postgres')
  context.sql = postgres(context.db.url, { onnotice: () => {}, max: 6, connection: { application_name: APP } })
})

test.after(async (context) => {
  await context.sql?.end({ timeout: 1 })
  await context.db?.drop()
  await context.server?.stop()
})

/** An EventBridge-shaped event for aggregate `id` at `version`. */
function event(id: string, version: number, detail: Record<string, unknown> = {}, type = 'OrderUpdated') {
  return {
    version: '0',
    id: `${id}-${version}-${Math.random().toString(36).slice(2, 8)}`,
    'detail-type': type,
    source: 'shop.orders',
    account: '123456789012',
    time: new Date(Date.UTC(2024, 0, 1, 0, 0, version)).toISOString(),
    region: 'us-east-1',
    resources: [],
    detail: { aggregateId: id, version, amount: version * 10, ...detail },
  }
}

async function* from<T>(events: Iterable<T>): AsyncGenerator<T> {
  for (const e of events) yield e
}

/** A source that fails the test if anything reads it. */
function neverRead(): AsyncIterable<unknown> {
  return {
    [Symbol.asyncIterator]() {
      throw new Error('the source was read before the target was checked')
    },
  }
}

const versioned: Mapping = {
  columns: { id: 'detail.aggregateId', version: 'detail.version', amount: 'detail.amount' },
  key: ['id'],
  versionColumn: 'version',
}

function sink(context: { sql: Sql }, options: Partial<ToPostgresOptions> & { table: string }) {
  return toPostgres({ sql: context.sql, mapping: versioned, ...options })
}

/** The promise the report makes: every event received is written, skipped or failed. */
function adds(result: SinkResult): SinkResult {
  assert.is(result.received, result.written + result.skipped + result.failed, `counts do not add up: ${JSON.stringify(result)}`)
  return result
}

async function orders(sql: Sql, table: string) {
  await sql.unsafe(`drop table if exists ${table}; create table ${table} (id text primary key, version int not null, amount int check (amount >= 0))`)
}

async function rowsOf(sql: Sql, table: string): Promise<Record<string, unknown>[]> {
  return [...(await sql.unsafe(`select * from ${table} order by 1`))]
}

async function rejection(promise: Promise<unknown>): Promise<HydratorError> {
  try {
    await promise
  } catch (error) {
    assert.instance(error, HydratorError)
    return error as HydratorError
  }
  assert.unreachable('expected a rejection')
  throw new Error('unreachable')
}

function shuffle<T>(items: T[], seed: number): T[] {
  const out = [...items]
  let s = seed
  for (let i = out.length - 1; i > 0; i--) {
    s = (s * 1103515245 + 12345) % 2 ** 31
    const j = s % (i + 1)
    ;[out[i], out[j]] = [out[j]!, out[i]!]
  }
  return out
}

test('inserts new rows and counts them as written', async (context) => {
  await orders(context.sql, 'ins')
  const result = adds(await sink(context, { table: 'ins', batchSize: 3 })(from(['a', 'b', 'c', 'd', 'e'].map((id) => event(id, 1)))))
  assert.equal([result.received, result.written, result.skipped, result.failed], [5, 5, 0, 0])
  assert.equal(await rowsOf(context.sql, 'ins'), ['a', 'b', 'c', 'd', 'e'].map((id) => ({ id, version: 1, amount: 10 })))
})

test('an empty source writes nothing and reports zeros', async (context) => {
  await orders(context.sql, 'empty')
  const result = adds(await sink(context, { table: 'empty' })(from([])))
  assert.equal([result.received, result.written], [0, 0])
  assert.is(result.uri, `postgres://postgres@127.0.0.1:${context.server.port}/${context.db.name}?table=empty`)
})

test('a higher version overwrites, an older or equal one is skipped', async (context) => {
  await orders(context.sql, 'ver')
  await context.sql`insert into ver values ('a', 5, 50), ('b', 5, 50)`
  const result = adds(await sink(context, { table: 'ver' })(from([event('a', 3), event('a', 5, { amount: 999 }), event('b', 7), event('c', 1)])))
  assert.equal([result.written, result.skipped, result.failed], [2, 2, 0])
  assert.equal(result.skippedBy, { duplicateInBatch: 1, stale: 1 })
  assert.equal(await rowsOf(context.sql, 'ver'), [
    { id: 'a', version: 5, amount: 50 },
    { id: 'b', version: 7, amount: 70 },
    { id: 'c', version: 1, amount: 10 },
  ])
})

test('same-key events in one batch collapse to the highest version, the rest are skipped', async (context) => {
  await orders(context.sql, 'dup')
  const events = [event('a', 2), event('a', 9), event('b', 1), event('a', 4), event('b', 3)]
  const result = adds(await sink(context, { table: 'dup', batchSize: 10 })(from(events)))
  assert.equal([result.written, result.skipped, result.failed], [2, 3, 0])
  assert.equal(result.skippedBy, { duplicateInBatch: 3 })
  assert.equal(await rowsOf(context.sql, 'dup'), [
    { id: 'a', version: 9, amount: 90 },
    { id: 'b', version: 3, amount: 30 },
  ])
})

test('without a version column the last same-key event of a batch wins', async (context) => {
  await context.sql.unsafe('create table last_wins (id text primary key, amount int)')
  const mapping: Mapping = { columns: { id: 'detail.aggregateId', amount: 'detail.amount' }, key: ['id'] }
  const events = [event('a', 1), event('a', 3), event('a', 2)]
  const result = adds(await sink(context, { table: 'last_wins', mapping })(from(events)))
  assert.equal([result.written, result.skipped], [1, 2])
  assert.equal(await rowsOf(context.sql, 'last_wins'), [{ id: 'a', amount: 20 }])
})

test('deletes the row of a delete event; a newer row is kept (stale), a missing one is skipped (deleteOfMissing)', async (context) => {
  await orders(context.sql, 'del')
  await context.sql`insert into del values ('a', 1, 10), ('b', 9, 90), ('c', 1, 10)`
  const mapping: Mapping = { ...versioned, deleteWhen: (e: unknown) => (e as { 'detail-type': string })['detail-type'] === 'OrderDeleted' }
  const events = [
    event('a', 2, {}, 'OrderDeleted'), // deletes a
    event('b', 3, {}, 'OrderDeleted'), // stale: b is at 9
    event('d', 1, {}, 'OrderDeleted'), // nothing to delete: it changes nothing
    event('c', 2), // an upsert in the same batch
  ]
  const result = adds(await sink(context, { table: 'del', mapping })(from(events)))
  assert.equal([result.written, result.skipped, result.failed, result.deleted], [2, 2, 0, 1])
  assert.equal(result.skippedBy, { stale: 1, deleteOfMissing: 1 })
  assert.equal(await rowsOf(context.sql, 'del'), [
    { id: 'b', version: 9, amount: 90 },
    { id: 'c', version: 2, amount: 20 },
  ])
})

test('a delete and an older upsert of one key in a batch leave the row deleted', async (context) => {
  await orders(context.sql, 'del2')
  const mapping: Mapping = { ...versioned, deleteWhen: (e: unknown) => (e as { 'detail-type': string })['detail-type'] === 'OrderDeleted' }
  const result = adds(await sink(context, { table: 'del2', mapping })(from([event('a', 1), event('a', 2, {}, 'OrderDeleted'), event('b', 1)])))
  // The batch's net effect on `a` is nothing: the upsert is superseded, and its row never existed.
  assert.equal([result.written, result.skipped, result.deleted ?? 0], [1, 2, 0])
  assert.equal(result.skippedBy, { duplicateInBatch: 1, deleteOfMissing: 1 })
  assert.equal(await rowsOf(context.sql, 'del2'), [{ id: 'b', version: 1, amount: 10 }])
})

test('a rejected row fails alone with its key and the database message; the rest of the batch is written', async (context) => {
  await orders(context.sql, 'rej')
  const failures: unknown[] = []
  const events = [
    event('a', 1),
    event('b', 1, { amount: -5 }), // check constraint
    event('c', 1),
    event('d', 1, { amount: 'lots' }), // not an integer
    event('e', 1),
    event('f', 1),
  ]
  const result = adds(await sink(context, { table: 'rej', batchSize: 6 })(from(events), { onFailure: (f) => failures.push(f) }))
  assert.equal([result.written, result.skipped, result.failed], [4, 0, 2])
  assert.equal((await rowsOf(context.sql, 'rej')).map((r) => r.id), ['a', 'c', 'e', 'f'])
  const [b, d] = result.failures
  assert.equal(b!.key, { id: 'b' })
  assert.is(b!.code, 'ERR_WRITE_REJECTED')
  assert.match(b!.message, /violates check constraint "rej_amount_check"/)
  assert.equal(d!.key, { id: 'd' })
  assert.match(d!.message, /invalid input syntax for type integer: "lots"/)
  assert.is(failures.length, 2)
})

test('when the surviving same-key event is rejected, the one it superseded is written', async (context) => {
  await orders(context.sql, 'rej2')
  const result = adds(await sink(context, { table: 'rej2' })(from([event('a', 1), event('a', 2, { amount: -1 }), event('b', 1)])))
  assert.equal([result.written, result.skipped, result.failed], [2, 0, 1])
  assert.equal(await rowsOf(context.sql, 'rej2'), [
    { id: 'a', version: 1, amount: 10 },
    { id: 'b', version: 1, amount: 10 },
  ])
})

test('a missing table fails at open, before any event is read', async (context) => {
  const error = await rejection(sink(context, { table: 'no_such_table' })(neverRead()))
  assert.is(error.code, 'ERR_TARGET_NOT_FOUND')
  assert.match(error.message, /no_such_table/)
})

test('a missing column fails at open, naming it, before any event is read', async (context) => {
  await orders(context.sql, 'cols')
  const mapping: Mapping = { ...versioned, columns: { ...versioned.columns, Amount_Due: 'detail.amount' } }
  const error = await rejection(sink(context, { table: 'cols', mapping })(neverRead()))
  assert.is(error.code, 'ERR_TARGET_SCHEMA')
  assert.match(error.message, /`Amount_Due`/)
  assert.match(error.message, /id, version, amount/)
})

test('upsert mode without a unique index on the key fails at open', async (context) => {
  await context.sql.unsafe('create table no_key (id text, version int, amount int)')
  const error = await rejection(sink(context, { table: 'no_key' })(neverRead()))
  assert.is(error.code, 'ERR_TARGET_SCHEMA')
  assert.match(error.message, /unique index on exactly \(id\)/)
})

test('an unmapped NOT NULL column without a default fails at open', async (context) => {
  await context.sql.unsafe('create table needs (id text primary key, version int, amount int, owner text not null)')
  const error = await rejection(sink(context, { table: 'needs' })(neverRead()))
  assert.is(error.code, 'ERR_TARGET_SCHEMA')
  assert.match(error.message, /`owner`/)
})

test('an unreachable server fails at open with ERR_CONNECTION', async () => {
  const port = await freePort()
  const dead = postgres(`postgres://postgres@127.0.0.1:${port}/x`, { onnotice: () => {}, connect_timeout: 2 })
  try {
    const error = await rejection(
      toPostgres({ sql: dead, table: 't', mapping: versioned, retry: { attempts: 1 } })(neverRead()),
    )
    assert.is(error.code, 'ERR_CONNECTION')
    assert.match(error.message, /ECONNREFUSED/)
  } finally {
    await dead.end({ timeout: 1 })
  }
})

test('bad options fail when the sink is made, echoing the value', (context) => {
  assert.throws(() => sink(context, { table: 'x', mode: 'merge' as never }), /`merge`/)
  assert.throws(() => sink(context, { table: 'a.b.c' }), /`a.b.c`/)
  assert.throws(() => sink(context, { table: 'x', batchSize: 0 }), /`0`/)
  assert.throws(() => toPostgres({ sql: {} as never, table: 'x', mapping: versioned }), /postgres\(\)/)
  assert.throws(
    () => sink(context, { table: 'x', mode: 'append', mapping: { ...versioned, deleteWhen: () => true } }),
    /append mode cannot delete/,
  )
})

test('a dry run checks the table, writes nothing and previews the plan', async (context) => {
  await orders(context.sql, 'dry')
  const result = adds(await sink(context, { table: 'dry' })(from([event('a', 1), event('b', 2)]), { dryRun: true }))
  assert.is(result.dryRun, true)
  assert.is(result.written, 2)
  assert.equal(result.previews[0], { op: 'insert', key: { id: 'a' }, next: { id: 'a', version: 1, amount: 10 } })
  assert.equal(await rowsOf(context.sql, 'dry'), [])
  const missing = await rejection(sink(context, { table: 'dry_missing' })(neverRead(), { dryRun: true }))
  assert.is(missing.code, 'ERR_TARGET_NOT_FOUND')
})

test('a rerun changes nothing: every event is skipped', async (context) => {
  await orders(context.sql, 'rerun')
  const events = Array.from({ length: 40 }, (_, i) => event(`k${i % 9}`, i))
  const first = adds(await sink(context, { table: 'rerun', batchSize: 7 })(from(events)))
  assert.is(first.failed, 0)
  const before = await rowsOf(context.sql, 'rerun')
  const second = adds(await sink(context, { table: 'rerun', batchSize: 7 })(from(events)))
  assert.equal([second.written, second.skipped, second.failed], [0, 40, 0])
  assert.equal(await rowsOf(context.sql, 'rerun'), before)
})

test('shuffled event order gives the same final table', async (context) => {
  const events = Array.from({ length: 300 }, (_, i) => event(`k${i % 23}`, i + 1))
  const tables: Record<string, unknown>[][] = []
  for (const [n, order] of [events, shuffle(events, 7), shuffle(events, 42)].entries()) {
    await orders(context.sql, `shuffled${n}`)
    adds(await sink(context, { table: `shuffled${n}`, batchSize: 16, concurrency: 3 })(from(order)))
    tables.push(await rowsOf(context.sql, `shuffled${n}`))
  }
  assert.is(tables[0]!.length, 23)
  assert.equal(tables[1], tables[0])
  assert.equal(tables[2], tables[0])
})

test('with concurrency > 1, writes to one key are applied in source order', async (context) => {
  await context.sql.unsafe(`
    create table conc (id text primary key, seq int);
    create table conc_log (id text, seq int, at bigserial);
    create function conc_log() returns trigger language plpgsql as $$
      begin insert into conc_log (id, seq) values (new.id, new.seq); return new; end $$;
    create trigger conc_log after insert or update on conc for each row execute function conc_log();`)
  const mapping: Mapping = { columns: { id: 'detail.aggregateId', seq: 'detail.version' }, key: ['id'] }
  const events = Array.from({ length: 600 }, (_, i) => event(`k${i % 5}`, i))
  const result = adds(await sink(context, { table: 'conc', mapping, batchSize: 4, concurrency: 4 })(from(events)))
  assert.is(result.failed, 0)
  assert.equal(await rowsOf(context.sql, 'conc'), [595, 596, 597, 598, 599].map((seq) => ({ id: `k${seq % 5}`, seq })))
  const log = await context.sql`select id, seq from conc_log order by at`
  const last = new Map<string, number>()
  for (const { id, seq } of log) {
    assert.ok((last.get(id) ?? -1) < seq, `key ${id}: ${seq} applied after ${last.get(id)}`)
    last.set(id, seq)
  }
})

test('objects and arrays go in as jsonb, `.` stores the whole event, arrays fill array columns', async (context) => {
  await context.sql.unsafe('create table docs (id text primary key, detail jsonb, event jsonb, tags text[], note text, raw json)')
  const mapping: Mapping = {
    columns: { id: 'detail.aggregateId', detail: 'detail', event: '.', tags: 'detail.tags', note: 'detail.note', raw: 'detail.amount' },
    key: ['id'],
  }
  const e = event('a', 1, { tags: ['x', 'y "quoted"', 'back\\slash', null], note: { nested: [1, 2] } })
  const result = adds(await sink(context, { table: 'docs', mapping })(from([e, event('b', 2, { note: 'tab\there' })])))
  assert.is(result.written, 2)
  const [a, b] = await rowsOf(context.sql, 'docs')
  assert.equal(a!.detail, e.detail)
  assert.equal(a!.event, e)
  // (the client reads a NULL array element back as the string 'NULL', so ask the server)
  const [tags] = await context.sql`select tags[1:3] as firsts, tags[4] is null as null4, cardinality(tags) as n from docs where id = 'a'`
  assert.equal(tags, { firsts: ['x', 'y "quoted"', 'back\\slash'], null4: true, n: 4 })
  assert.is(a!.note, '{"nested":[1,2]}')
  assert.is(a!.raw, 10)
  assert.is(b!.note, 'tab\there')
  assert.is(b!.tags, null)
})

test('quotes every identifier: odd schema, table and column names work', async (context) => {
  await context.sql.unsafe(`create schema "we""ird"; create table "we""ird"."my.Table" ("the id" text primary key, "Amount Due" int, "version" int)`)
  const mapping: Mapping = {
    columns: { 'the id': 'detail.aggregateId', 'Amount Due': 'detail.amount', version: 'detail.version' },
    key: ['the id'],
    versionColumn: 'version',
  }
  const result = adds(await sink(context, { table: '"we""ird"."my.Table"', mapping })(from([event('a', 1), event('a', 2)])))
  assert.is(result.written, 1)
  assert.equal([...(await context.sql.unsafe(`select * from "we""ird"."my.Table"`))], [{ 'the id': 'a', 'Amount Due': 20, version: 2 }])
})

test('append mode copies every event in as a new row with COPY', async (context) => {
  await context.sql.unsafe('create table app (id text, version int, amount int check (amount >= 0), doc jsonb, at timestamptz)')
  const mapping: Mapping = {
    columns: { id: 'detail.aggregateId', version: 'detail.version', amount: 'detail.amount', doc: 'detail', at: 'time' },
    key: ['id'],
  }
  const events = Array.from({ length: 25 }, (_, i) => event(`k${i % 3}`, i, { text: 'line\nbreak\ttab\\slash' }))
  const result = adds(await sink(context, { table: 'app', mode: 'append', mapping, batchSize: 10 })(from(events)))
  assert.equal([result.written, result.skipped, result.failed], [25, 0, 0])
  const rows = await context.sql`select id, version, amount, doc, at from app order by version`
  assert.is(rows.length, 25)
  assert.equal(rows[3]!.doc, events[3]!.detail)
  assert.equal((rows[3]!.at as Date).toISOString(), events[3]!.time)
})

test('append mode: a rejected row fails alone, the rest of its COPY batch is written', async (context) => {
  await context.sql.unsafe('create table app_rej (id text, version int, amount int check (amount >= 0))')
  const events = Array.from({ length: 12 }, (_, i) => event(`k${i}`, i, i === 4 ? { amount: -1 } : i === 9 ? { amount: 'x' } : {}))
  const result = adds(await sink(context, { table: 'app_rej', mode: 'append', batchSize: 12 })(from(events)))
  assert.equal([result.written, result.failed], [10, 2])
  assert.equal(result.failures.map((f) => f.key), [{ id: 'k4' }, { id: 'k9' }])
  assert.match(result.failures[0]!.message, /check constraint/)
  const [{ count }] = await context.sql`select count(*)::int as count from app_rej`
  assert.is(count, 10)
  const [{ open }] = await context.sql`select count(*)::int as open from pg_stat_activity where state like 'idle in transaction%'`
  assert.is(open, 0)
})

/** `promise`, failing the test if it has not settled within `ms` (instead of hanging the suite). */
async function settlesWithin<T>(ms: number, promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`still pending after ${ms} ms: the sink hangs`)), ms)
  })
  return Promise.race([promise, late]).finally(() => clearTimeout(timer))
}

const fastRetry = { minDelayMs: 10, maxDelayMs: 50 }

for (const mode of ['upsert', 'append'] as const) {
  test(`${mode}: a connection killed mid-batch is retried and nothing is lost`, async (context) => {
    const table = `killed_${mode}`
    await context.sql.unsafe(`
      create table ${table} (id text ${mode === 'upsert' ? 'primary key' : ''}, version int, amount int);
      create function ${table}_slow() returns trigger language plpgsql as $$ begin perform pg_sleep(0.15); return null; end $$;
      create trigger ${table}_slow before insert on ${table} for each statement execute function ${table}_slow();`)
    const admin = context.db.sql
    let killed = 0
    async function* source() {
      for (let i = 0; i < 60; i++) {
        yield event(`k${i}`, 1)
        if (i === 25 || i === 45) {
          // a batch is in flight now (sleeping in the trigger): terminate its backend
          for (let tries = 0; tries < 100; tries++) {
            const [row] = await admin`
              select count(pg_terminate_backend(pid))::int as n from pg_stat_activity
              where application_name = ${APP} and state = 'active' and (query ilike 'with%' or query ilike 'copy%' or query ilike 'commit%')`
            if (row!.n > 0) {
              killed += row!.n
              break
            }
            await new Promise((r) => setTimeout(r, 10))
          }
        }
      }
    }
    const result = adds(await settlesWithin(60_000, sink(context, { table, mode, batchSize: 10, retry: fastRetry })(source())))
    assert.ok(killed >= 2, `expected to kill two backends, killed ${killed}`)
    assert.equal([result.written, result.failed], [60, 0])
    assert.ok(Object.values(result.retries).reduce((a, b) => a + b, 0) >= 2, JSON.stringify(result.retries))
    const rows = await context.sql.unsafe(`select id, count(*)::int as n from ${table} group by id`)
    assert.is(rows.length, 60)
    assert.ok(rows.every((r) => r.n === 1), 'a row was written twice')
  })
}

/** A client that reaches the server through a TCP fault proxy. */
async function proxied(context: { server: PostgresServer; db: TestDatabase }) {
  const proxy = await startTcpProxy({ host: '127.0.0.1', port: context.server.port })
  const sql = postgres(`postgres://postgres@127.0.0.1:${proxy.port}/${context.db.name}`, {
    socket: postgresSocket,
    max: 3,
    onnotice: () => {},
  } as Parameters<typeof postgres>[1])
  return { proxy, sql, close: async () => (await sql.end({ timeout: 1 }), await proxy.close()) }
}

const isCommit = (chunk: Buffer) => chunk.includes('commit')

async function idCounts(sql: Sql, table: string) {
  return [...(await sql.unsafe(`select id, count(*)::int as n from ${table} group by id order by id`))]
}

/** 30 events appended in batches of 10 while the proxy drops the connection once, `drop` the first COMMIT. */
async function appendThroughDrop(context: { server: PostgresServer; db: TestDatabase; sql: Sql }, table: string, drop: 'before' | 'after') {
  await context.sql.unsafe(`create table ${table} (id text, version int, amount int)`)
  const { proxy, sql, close } = await proxied(context)
  try {
    proxy.arm({ when: isCommit, drop })
    const events = Array.from({ length: 30 }, (_, i) => event(`${table}-${i}`, 1))
    const result = adds(await toPostgres({ sql: sql as never, table, mapping: versioned, mode: 'append', batchSize: 10, retry: fastRetry })(from(events)))
    assert.is(proxy.fired, 1)
    assert.equal([result.written, result.failed], [30, 0])
    const counts = await idCounts(context.sql, table)
    assert.is(counts.length, 30)
    return { result, counts }
  } finally {
    await close()
  }
}

test('append: a connection lost after COMMIT reached the server is not retried when the COPY committed', async (context) => {
  const { counts } = await appendThroughDrop(context, 'lost_after', 'after')
  assert.ok(counts.every((r) => r.n === 1), 'a committed batch was copied again')
})

test('append: a connection lost before COMMIT reached the server retries the batch, which lands once', async (context) => {
  const { result, counts } = await appendThroughDrop(context, 'lost_before', 'before')
  assert.ok(Object.values(result.retries).reduce((a, b) => a + b, 0) >= 1, JSON.stringify(result.retries))
  assert.ok(counts.every((r) => r.n === 1))
})

test('append: when PostgreSQL cannot be asked whether a lost COMMIT landed, the batch fails with ERR_CONNECTION, not twice', async (context) => {
  await context.sql.unsafe('create table lost_unknown (id text, version int, amount int)')
  const { proxy, sql, close } = await proxied(context)
  try {
    proxy.arm({ when: isCommit, drop: 'after', thenRefuse: true })
    const events = Array.from({ length: 10 }, (_, i) => event(`u${i}`, 1))
    const result = adds(
      await toPostgres({ sql: sql as never, table: 'lost_unknown', mapping: versioned, mode: 'append', batchSize: 10, retry: { attempts: 3, ...fastRetry } })(from(events)),
    )
    assert.equal([result.written, result.failed], [0, 10])
    const failure = result.failures[0]!
    assert.is(failure.code, 'ERR_CONNECTION')
    assert.match(failure.message, /may or may not be in the table/)
    assert.equal(failure.key, { id: 'u0' })
    // The truth the report could not know: the COPY had committed.
    assert.is((await idCounts(context.sql, 'lost_unknown')).length, 10)
  } finally {
    proxy.accept()
    await close()
  }
})

/** CopyDone: 'c' and a length of 4, the message that ends a COPY's data. */
const isCopyDone = (chunk: unknown) => Buffer.isBuffer(chunk) && chunk.length === 5 && chunk[0] === 0x63 && chunk.readInt32BE(1) === 4

test('append: a socket that fails as the COPY ends neither hangs nor loses the batch', async (context) => {
  // Like a backend terminated mid-COPY: the write that ends the COPY fails (EPIPE). The socket
  // reports the error at once and closes a turn later; postgres 3.4.9 never settles a query sent in
  // between, so a COMMIT sent after the error hung the sink for ever (in CI, and in about 1 of 20 runs
  // of the mid-batch kill test above).
  await context.sql.unsafe('create table copy_done_fails (id text, version int, amount int)')
  let fired = 0
  const sql = postgres(context.db.url, {
    max: 2,
    onnotice: () => {},
    socket: (options: Parameters<typeof postgresSocket>[0]) => {
      const socket = postgresSocket(options)
      const write = socket.write
      socket.write = function failingWrite(this: typeof socket, chunk: unknown, ...rest: unknown[]) {
        if (fired === 0 && isCopyDone(chunk)) {
          fired++
          socket.destroy(Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }))
          return false
        }
        return (write as (...a: unknown[]) => boolean).call(this, chunk, ...rest)
      } as typeof socket.write
      return socket
    },
  } as Parameters<typeof postgres>[1])
  try {
    const events = Array.from({ length: 30 }, (_, i) => event(`e${i}`, 1))
    const write = toPostgres({ sql: sql as never, table: 'copy_done_fails', mapping: versioned, mode: 'append', batchSize: 10, retry: fastRetry })(from(events))
    const result = adds(await settlesWithin(15_000, write))
    assert.is(fired, 1)
    assert.equal([result.written, result.failed], [30, 0])
    assert.equal(result.retries, { EPIPE: 1 })
    const counts = await idCounts(context.sql, 'copy_done_fails')
    assert.is(counts.length, 30)
    assert.ok(counts.every((r) => r.n === 1), 'a batch was copied twice')
  } finally {
    await sql.end({ timeout: 1 })
  }
})

test('upsert: a connection lost after COMMIT is retried, and the rerun is harmless', async (context) => {
  await orders(context.sql, 'lost_upsert')
  const { proxy, sql, close } = await proxied(context)
  try {
    // An upsert is one statement that commits by itself: drop the connection after it reaches the server.
    proxy.arm({ when: (chunk) => chunk.includes('insert into'), drop: 'after' })
    const events = Array.from({ length: 30 }, (_, i) => event(`c${i}`, 1))
    const result = adds(await toPostgres({ sql: sql as never, table: 'lost_upsert', mapping: versioned, batchSize: 10, retry: fastRetry })(from(events)))
    assert.is(proxy.fired, 1)
    assert.is(result.failed, 0)
    // The retried batch meets its own rows: equal versions are stale, so they count as skipped.
    assert.is(result.written + result.skipped, 30)
    assert.is((await rowsOf(context.sql, 'lost_upsert')).length, 30)
  } finally {
    await close()
  }
})

test('an upstream error propagates after what was read is accounted for', async (context) => {
  await orders(context.sql, 'upstream')
  async function* broken() {
    yield event('a', 1)
    throw new Error('disk on fire')
  }
  try {
    await sink(context, { table: 'upstream' })(broken())
    assert.unreachable('should have rejected')
  } catch (error) {
    assert.match((error as Error).message, /disk on fire/)
  }
})

/** The CLI's factory context for the postgres: plugin: the versioned mapping, no environment. */
const pgContext = (overrides: Partial<FactoryContext> = {}) => factoryContext({ env: {}, mapping: versioned, ...overrides })

test('postgresSocket connects like the client does, trying the hosts of a multi-host URL in turn', async (context) => {
  const dead = await freePort()
  const url = `postgres://postgres@127.0.0.1:${dead},127.0.0.1:${context.server.port}/${context.db.name}`
  const sql = postgres(url, { socket: postgresSocket, max: 1, onnotice: () => {} } as Parameters<typeof postgres>[1])
  try {
    // The first host refuses; the client reconnects and the factory hands it the second.
    let rows: readonly Record<string, unknown>[] | undefined
    for (let attempt = 0; attempt < 3 && !rows; attempt++) rows = await sql`select current_database() as db`.catch(() => undefined)
    assert.equal(rows?.[0], { db: context.db.name })
    await orders(sql, 'via_socket')
    const result = adds(await toPostgres({ sql: sql as never, table: 'via_socket', mapping: versioned, mode: 'append', batchSize: 2 })(from([event('a', 1), event('b', 1), event('c', 1)])))
    assert.is(result.written, 3)
  } finally {
    await sql.end({ timeout: 1 })
  }
})

test('plugin: postgres:// URIs write through a client it makes, with the password redacted in the report', async (context) => {
  await orders(context.sql, 'via_uri')
  const factory = postgresPlugin.sinks!.postgresql!
  const ctx = pgContext()
  const uri = `postgresql://postgres:s3cret@127.0.0.1:${context.server.port}/${context.db.name}?table=via_uri&application_name=eh-test`
  const result = adds(await (await factory(parseUri(uri), ctx))(from([event('a', 1)])))
  for (const close of ctx.closers) await close()
  assert.is(result.written, 1)
  assert.not.match(result.uri, /s3cret/)
  assert.match(result.uri, /postgres:\*\*\*@127\.0\.0\.1/)
  assert.equal(await rowsOf(context.sql, 'via_uri'), [{ id: 'a', version: 1, amount: 10 }])
})

const PG_VARIABLES = ['PGHOST', 'PGPORT', 'PGUSER', 'PGUSERNAME', 'PGPASSWORD', 'PGDATABASE', 'PGSSL', 'PGSSLMODE'] as const

/** Runs `fn` with the PG* variables of process.env set to `values` (the others unset), as a shell would; restores them after. */
async function withPgEnvironment<T>(values: Partial<Record<(typeof PG_VARIABLES)[number], string>>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(PG_VARIABLES.map((name) => [name, process.env[name]]))
  for (const name of PG_VARIABLES) {
    if (values[name] === undefined) delete process.env[name]
    else process.env[name] = values[name]
  }
  try {
    return await fn()
  } finally {
    for (const name of PG_VARIABLES) {
      if (saved[name] === undefined) delete process.env[name]
      else process.env[name] = saved[name]
    }
  }
}

test('plugin: postgres: takes the connection from PG* variables and the table from --table, append via ?mode', async (context) => {
  await context.sql.unsafe('create table via_env (id text, version int, amount int)')
  // The client reads PG* from the process environment itself, as the CLI's own process would have them.
  const pg = { PGHOST: '127.0.0.1', PGPORT: String(context.server.port), PGUSER: 'postgres', PGPASSWORD: 'hush', PGDATABASE: context.db.name }
  const ctx = pgContext({ table: 'via_env', env: pg })
  const result = await withPgEnvironment(pg, async () => {
    const write = await postgresPlugin.sinks!.postgres!(parseUri('postgres:?mode=append'), ctx)
    return adds(await write(from([event('a', 1), event('a', 2)])))
  })
  for (const close of ctx.closers) await close()
  assert.is(result.written, 2)
  assert.not.match(result.uri, /hush/)
  assert.is(result.uri, `postgres://postgres@127.0.0.1:${context.server.port}/${context.db.name}?table=via_env&mode=append`)
})

test('plugin: postgres: reports the server the client resolved from the environment, port and database defaults included', async () => {
  // No PGPORT, PGDATABASE: the client's defaults (5432, the user's name) are what the report names.
  const ctx = pgContext({ table: 't' })
  const write = await withPgEnvironment({ PGHOST: '127.0.0.1', PGUSER: 'nobody' }, async () => postgresPlugin.sinks!.postgres!(parseUri('postgres:'), ctx))
  for (const close of ctx.closers) await close()
  assert.is(write.uri, 'postgres://nobody@127.0.0.1:5432/nobody?table=t')
})

test('plugin: postgres: a PGPORT that is not a port is an option error naming it', async () => {
  const ctx = pgContext()
  const error = await rejection(withPgEnvironment({ PGHOST: '127.0.0.1', PGPORT: 'fivefourthreetwo' }, async () => postgresPlugin.sinks!.postgres!(parseUri('postgres:?table=t'), ctx)))
  for (const close of ctx.closers) await close()
  assert.is(error.code, 'ERR_INVALID_OPTION')
  assert.match(error.message, /PGPORT must be a port number, got `fivefourthreetwo`/)
})

test('plugin: postgres: PGSSLMODE, which the client does not read, still applies: require fails against a server without TLS', async (context) => {
  const pg = { PGHOST: '127.0.0.1', PGPORT: String(context.server.port), PGUSER: 'postgres', PGDATABASE: context.db.name }
  const ctx = pgContext({ table: 't', env: { ...pg, PGSSLMODE: 'require' }, retry: { attempts: 1 } })
  const error = await rejection(withPgEnvironment(pg, async () => {
    const write = await postgresPlugin.sinks!.postgres!(parseUri('postgres:'), ctx)
    return write(from([event('a', 1)]))
  }))
  for (const close of ctx.closers) await close()
  assert.is(error.code, 'ERR_CONNECTION')
})

test('plugin: a missing mapping or table is a usage error naming the flags', async () => {
  const factory = postgresPlugin.sinks!.postgres!
  const noMapping = await rejection(Promise.resolve().then(() => factory(parseUri('postgres:?table=t'), pgContext({ mapping: undefined }))))
  assert.is(noMapping.code, 'ERR_USAGE')
  assert.match(noMapping.message, /--column/)
  assert.match(noMapping.message, /--key/)
  const noTable = await rejection(Promise.resolve().then(() => factory(parseUri('postgres://u:pw@h/db'), pgContext())))
  assert.is(noTable.code, 'ERR_USAGE')
  assert.match(noTable.message, /--table/)
  assert.not.match(noTable.message, /pw/)
})

test('plugin: ?timeoutMs= must be a whole number of milliseconds, and the error hides the password', async () => {
  const factory = postgresPlugin.sinks!.postgres!
  for (const bad of ['0', 'soon', '1.5']) {
    const error = await rejection(Promise.resolve().then(() => factory(parseUri(`postgres://u:pw@h/db?table=t&timeoutMs=${bad}`), pgContext())))
    assert.is(error.code, 'ERR_INVALID_URI')
    assert.match(error.message, /timeoutMs/)
    assert.match(error.message, new RegExp(`got \`${bad.replace('.', '\\.')}\``))
    assert.not.match(error.message, /pw/)
  }
})

test.run()
