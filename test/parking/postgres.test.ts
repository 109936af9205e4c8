import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { hydrate } from '../../lib/hydrate.js'
import { isRunReport } from '../../lib/report/validate.js'
import { ndjson, tempDir } from '../helpers.js'
import { createDatabase, startPostgres, type PostgresServer, type TestDatabase } from '../servers/postgres.js'

const test = suite<{ server: PostgresServer; db: TestDatabase; dir: Awaited<ReturnType<typeof tempDir>> }>('parking: PostgreSQL', {} as never)

test.before(async (context) => {
  context.server = await startPostgres()
  context.db = await createDatabase(context.server, 'parking')
  context.dir = await tempDir('eh-park-pg-')
})

test.after(async (context) => {
  await context.db?.drop()
  await context.server?.stop()
  await context.dir?.cleanup()
})

/** Event `i` of aggregate `a<i % keys>`, with `amount` (negative ones break the table's CHECK). */
const event = (i: number, keys: number, amount = i) => ({
  version: '0',
  id: `e${i}`,
  'detail-type': 'LedgerEntry',
  source: 'ledger',
  account: '123456789012',
  time: '2024-01-01T00:00:00Z',
  region: 'us-east-1',
  resources: [],
  detail: { aggregateId: `a${i % keys}`, seq: i, amount },
})
const lines = async (file: string) => (await readFile(file, 'utf8')).trim().split('\n').map((l) => JSON.parse(l))
const seqsOf = (k: number, keys: number, n: number, from = 0) => Array.from({ length: n }, (_, i) => i).filter((i) => i % keys === k && i >= from)

for (const concurrency of [1, 4]) {
test(`append: a row the table rejects parks the later rows of its key; a redrive appends them in order (concurrency ${concurrency})`, async ({ db, dir }) => {
  const ledger = `ledger_${concurrency}`
  await db.sql`create table ${db.sql(ledger)} (n serial primary key, aggregate text not null, seq int not null, amount int not null check (amount >= 0))`
  const events = Array.from({ length: 30 }, (_, i) => event(i, 3, i === 10 ? -1 : i)) // e10: a1, rejected
  const source = await dir.file(`${ledger}.ndjson`, ndjson(events))
  const deadLetter = path.join(dir.dir, `${ledger}-1.ndjson`)
  const job = { sink: `${db.url}?table=${ledger}&mode=append`, column: ['aggregate=detail.aggregateId', 'seq=detail.seq', 'amount=detail.amount'], key: 'aggregate', concurrency }
  const report = await hydrate({ source: `json:${source}`, ...job, deadLetter })

  assert.ok(isRunReport(report))
  assert.is(report.status, 'partial')
  assert.is(report.sink.written, 23)
  assert.is(report.sink.failed, 7)
  assert.is(report.sink.parked, 6)
  assert.equal(report.sink.parkedKeys, ['["a1"]'], 'the mapping key, as JSON')
  const rows = async (aggregate: string) => (await db.sql`select seq from ${db.sql(ledger)} where aggregate = ${aggregate} order by n`).map((r) => r.seq)
  assert.equal(await rows('a1'), [1, 4, 7], 'nothing of a1 after the rejected row')
  assert.equal(await rows('a0'), seqsOf(0, 3, 30))
  assert.equal(await rows('a2'), seqsOf(2, 3, 30))

  const letters = await lines(deadLetter)
  assert.equal(letters.map((l) => [l.event.id, l.code]), [
    ['e10', 'ERR_WRITE_REJECTED'],
    ...seqsOf(1, 3, 30, 13).map((i) => [`e${i}`, 'ERR_PARKED']),
  ])
  assert.match(letters[0].message, new RegExp(`${ledger}_amount_check`))
  assert.is(letters[1].parkedBehind.id, 'e10')

  // The table is fixed; the redrive appends a1's rows in their order, the rejected one first.
  await db.sql`alter table ${db.sql(ledger)} drop constraint ${db.sql(`${ledger}_amount_check`)}`
  const redrive = await hydrate({ source: `json:${deadLetter}`, ...job, deadLetter: path.join(dir.dir, `${ledger}-2.ndjson`) })
  assert.is(redrive.status, 'ok')
  assert.is(redrive.sink.written, 7)
  assert.equal(await rows('a1'), seqsOf(1, 3, 30))
})
}

test('upsert: a rejected version parks the later ones of its row, so a redrive leaves the newest state', async ({ db, dir }) => {
  await db.sql`create table accounts (id text primary key, seq int not null, amount int not null check (amount >= 0))`
  // a0: e0, e2 (rejected), e4, e6; a1: e1, e3, e5, e7; in batches of 2.
  const events = Array.from({ length: 8 }, (_, i) => event(i, 2, i === 2 ? -1 : i))
  const source = await dir.file('accounts.ndjson', ndjson(events))
  const deadLetter = path.join(dir.dir, 'accounts-1.ndjson')
  const job = { sink: `${db.url}?table=accounts`, column: ['id=detail.aggregateId', 'seq=detail.seq', 'amount=detail.amount'], key: 'id', batchSize: 2 }
  const report = await hydrate({ source: `json:${source}`, ...job, deadLetter })
  assert.is(report.sink.parked, 2)
  assert.equal(
    (await db.sql`select id, seq from accounts order by id`).map((r) => [r.id, r.seq]),
    [
      ['a0', 0],
      ['a1', 7],
    ],
    'a0 stays at the event before the rejected one; without parking it would hold e6, and a redrive of e2 alone would then put it back to an older state',
  )
  assert.equal((await lines(deadLetter)).map((l) => l.event.id), ['e2', 'e4', 'e6'])
  await db.sql`alter table accounts drop constraint accounts_amount_check`
  await hydrate({ source: `json:${deadLetter}`, ...job })
  assert.equal((await db.sql`select seq from accounts where id = 'a0'`)[0]!.seq, 6)
})

test('a dry run parks what the real run would, behind the failures it can foresee', async ({ db, dir }) => {
  await db.sql`create table plans (id text primary key, seq int not null, amount int not null)`
  // e3 (a1) has a version that is not a number: a mapping failure the plan foresees.
  const events = Array.from({ length: 12 }, (_, i) => (i === 3 ? { ...event(i, 2), detail: { ...event(i, 2).detail, seq: 'third' } } : event(i, 2)))
  const source = await dir.file('plans.ndjson', ndjson(events))
  const report = await hydrate({
    source: `json:${source}`,
    sink: `${db.url}?table=plans`,
    column: ['id=detail.aggregateId', 'seq=detail.seq', 'amount=detail.amount'],
    key: 'id',
    versionColumn: 'seq',
    orderKey: 'detail.aggregateId',
    dryRun: true,
  })
  assert.is(report.dryRun, true)
  assert.is(report.sink.failed, 5)
  assert.is(report.sink.parked, 4, 'e5, e7, e9, e11 would be parked')
  assert.equal(report.sink.parkedKeys, ['a1'])
  assert.equal(report.failures.samples.map((f) => f.code), ['ERR_MAPPING'])
  assert.is((await db.sql`select count(*)::int as n from plans`)[0]!.n, 0, 'nothing written')
})

test.run()
