// --rate auto with SQL Server, through the real mssql client and the TDS protocol test server:
// a lock request timeout (error 1222, SET LOCK_TIMEOUT) is throttling; a deadlock (1205) is
// retried but is not. The throttles reach the rate controller whether the retry then succeeds
// or the attempts run out.
import sql, { type ConnectionPool } from 'mssql'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { toSqlServer } from '../../lib/mssql/sink.js'
import { rateControl } from '../../lib/rate-control.js'
import { run } from '../../lib/run.js'
import { startTdsServer, type TdsServer } from '../servers/tds-server.js'

const test = suite('--rate auto: SQL Server')
let server: TdsServer
let pool: ConnectionPool

test.before(async () => {
  server = await startTdsServer()
  pool = await new sql.ConnectionPool(server.config()).connect()
  pool.on('error', () => {})
  await pool.request().batch('CREATE TABLE [dbo].[rated] ([id] nvarchar(64) NOT NULL PRIMARY KEY, [version] int NULL);')
})

test.after.each(() => server.clearFaults())

test.after(async () => {
  await pool?.close()
  await server?.close()
})

async function* rows(n: number, from = 0) {
  for (let i = from; i < from + n; i++) yield { detail: { id: `r${i}`, version: 1 } }
}

const sink = (attempts: number) =>
  toSqlServer({ pool, table: 'dbo.rated', mapping: { columns: { id: 'detail.id', version: 'detail.version' }, key: ['id'], versionColumn: 'version' }, batchSize: 10, retry: { attempts, minDelayMs: 5, maxDelayMs: 20 } })

test('a lock timeout (1222) lowers the rate and is retried; a deadlock (1205) does not lower it', async () => {
  server.inject({ kind: 'error', number: 1222, times: 2, when: (s) => !!s.sql?.startsWith('MERGE') })
  server.inject({ kind: 'error', number: 1205, times: 1, when: (s) => !!s.sql?.startsWith('MERGE') })
  const control = rateControl({ startPerSecond: 500 })
  const report = await run({ source: rows(50), sink: sink(8), rate: control })
  assert.is(report.status, 'ok', JSON.stringify(report.failures.samples))
  assert.is(report.sink.written, 50)
  assert.equal(report.sink.rate!.throttledBy, { 'SQL Server error 1222': 2 })
  assert.equal(report.sink.retries, { 'SQL Server error 1222': 2, 'SQL Server error 1205': 1 })
  assert.ok(report.sink.rate!.decreases >= 1)
  assert.ok(report.sink.rate!.backoffMs > 0)
})

test('a lock timeout on the last attempt still counts as a throttle', async () => {
  server.inject({ kind: 'error', number: 1222, times: 2, when: (s) => !!s.sql?.startsWith('MERGE') })
  const control = rateControl({ startPerSecond: 500 })
  const report = await run({ source: rows(10, 100), sink: sink(2), rate: control })
  assert.is(report.sink.failed, 10)
  assert.is(report.sink.rate!.throttles, 2)
  assert.equal(report.sink.retries, { 'SQL Server error 1222': 1 })
})

test.run()
