// --rate auto with PostgreSQL: a lock the sink cannot get within its lock_timeout (55P03) is
// throttling. Another session holds an ACCESS EXCLUSIVE lock on the table for a while (a
// migration, a long report): the sink's statements time out waiting, the rate drops, the writes
// are retried once the lock is gone, and every row ends in the table.
import { setTimeout as sleep } from 'node:timers/promises'
import postgres, { type Sql } from 'postgres'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { run } from '../../lib/run.js'
import { rateControl } from '../../lib/rate-control.js'
import { toPostgres } from '../../lib/postgres/sink.js'
import { createDatabase, startPostgres, type PostgresServer, type TestDatabase } from '../servers/postgres.js'

const COUNT = 300
const test = suite<{ server: PostgresServer; db: TestDatabase; sql: Sql }>('--rate auto: PostgreSQL', {} as never)

test.before(async (context) => {
  context.server = await startPostgres()
  context.db = await createDatabase(context.server, 'rate_auto')
  // The sink's own client: it waits at most 100 ms for a lock.
  context.sql = postgres(context.db.url, { onnotice: () => {}, max: 4, connection: { lock_timeout: 100 } })
})

test.after(async (context) => {
  await context.sql?.end({ timeout: 1 })
  await context.db?.drop()
  await context.server?.stop()
})

async function* slowly(count: number, onEvent: (i: number) => void) {
  for (let i = 0; i < count; i++) {
    onEvent(i)
    yield { id: `e${i}`, detail: { id: `k${i}`, version: i, name: `n${i}` } }
  }
}

test('a lock timeout (55P03) lowers the rate; the writes are retried and all land', async ({ db, sql }) => {
  await db.sql.unsafe('create table rows (id text primary key, version int not null, name text)')
  let locked: Promise<unknown> | undefined
  const control = rateControl({ startPerSecond: 200, maxPerSecond: 400 })
  const report = await run({
    source: slowly(COUNT, (i) => {
      // A migration takes the table for 600 ms once the run is under way.
      if (i === 40) {
        locked = db.sql.begin(async (tx) => {
          await tx.unsafe('lock table rows in access exclusive mode')
          await sleep(600)
        })
      }
    }),
    sink: toPostgres({
      sql,
      table: 'rows',
      mapping: { columns: { id: 'detail.id', version: 'detail.version', name: 'detail.name' }, key: ['id'], versionColumn: 'version' },
      batchSize: 10,
      retry: { attempts: 20, minDelayMs: 20, maxDelayMs: 200 },
    }),
    rate: control,
  })
  await locked
  assert.is(report.status, 'ok', JSON.stringify(report.failures.samples.slice(0, 3)))
  assert.is(report.sink.written, COUNT)
  const [{ n }] = await db.sql.unsafe<{ n: number }[]>('select count(*)::int as n from rows')
  assert.is(n, COUNT)
  const rate = report.sink.rate!
  assert.ok((rate.throttledBy['55P03'] ?? 0) >= 1, JSON.stringify(rate))
  assert.ok((report.sink.retries['55P03'] ?? 0) >= 1, JSON.stringify(report.sink.retries))
  assert.ok(rate.decreases >= 1, JSON.stringify(rate))
  assert.ok(rate.backoffMs > 0, JSON.stringify(rate))
})

test.run()
