// Crash and resume into storage: a CLI run killed with SIGKILL at several points, then resumed from
// its checkpoint, ends with the same table as an uninterrupted run (versioned writes converge).
// Reduced size in CI; `npm run test:faults` (FULL=1) runs 200,000 events.
import { ScanCommand } from '@aws-sdk/lib-dynamodb'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { createTable, dynamoClients, startDynalite, type DynaliteServer } from '../servers/dynalite.js'
import { createDatabase, startPostgres, type PostgresServer, type TestDatabase } from '../servers/postgres.js'
import { events, ndjson, tempDir } from '../helpers.js'
import { crashAndResume, hydrateChild } from './cli-child.js'

const COUNT = process.env.FULL ? 200_000 : 30_000
const KILLS = process.env.FULL ? [0, 150, 400, 800] : [0, 250]
const test = suite('crash and resume: PostgreSQL and DynamoDB sinks')
let tmp: Awaited<ReturnType<typeof tempDir>>
let input: string
let pg: PostgresServer
let db: TestDatabase
let dynamo: DynaliteServer

test.before(async () => {
  tmp = await tempDir()
  input = await tmp.file(
    'events.ndjson',
    ndjson(events(COUNT, (i) => ({ detail: { aggregateId: `agg-${i % 3000}`, version: i, name: `name-${i}` } }))),
  )
  pg = await startPostgres()
  db = await createDatabase(pg, 'crash')
  dynamo = await startDynalite()
})
test.after(async () => {
  await db?.drop()
  await pg?.stop()
  await dynamo?.close()
  await tmp.cleanup()
})

const mapping = ['--key', 'id', '--column', 'id=detail.aggregateId', '--column', 'name=detail.name', '--column', 'version=detail.version', '--version-column', 'version']

test('PostgreSQL: killed and resumed at several points, the table equals a clean run', async () => {
  const sql = db.sql
  const createTable = (name: string) => sql.unsafe(`create table ${name} (id text primary key, name text, version bigint not null)`)
  await createTable('clean')
  const sink = (table: string) => `postgres://postgres@127.0.0.1:${pg.port}/${db.name}?table=${table}`
  assert.is(await hydrateChild(['--source', `json:${input}`, '--sink', sink('clean'), ...mapping]), 0)
  const expected = await sql`select id, name, version::text from clean order by id`
  assert.is(expected.length, 3000)
  for (const [i, delay] of KILLS.entries()) {
    const table = `crashed_${i}`
    await createTable(table)
    await crashAndResume(
      (ck) => ['--source', `json:${input}`, '--sink', sink(table), ...mapping, '--checkpoint', ck, '--checkpoint-interval', '50', '--batch-size', '200'],
      `${tmp.dir}/pg-${i}.ckpt`,
      async () => (await sql.unsafe(`select count(*)::int as n from ${table}`))[0]!.n > 0,
      delay,
      `pg-${i}`,
    )
    const got = await sql.unsafe(`select id, name, version::text from ${table} order by id`)
    assert.equal(got, expected, `kill ${i}: same rows`)
  }
})

test('DynamoDB: killed and resumed at several points, the table equals a clean run', async () => {
  const { client, doc, destroy } = dynamoClients(dynamo.endpoint)
  try {
    const scanAll = async (table: string) => {
      const items: Record<string, unknown>[] = []
      let ExclusiveStartKey: Record<string, unknown> | undefined
      do {
        const page = await doc.send(new ScanCommand({ TableName: table, ExclusiveStartKey }))
        items.push(...(page.Items ?? []))
        ExclusiveStartKey = page.LastEvaluatedKey
      } while (ExclusiveStartKey)
      return items.sort((a, b) => String(a.id).localeCompare(String(b.id)))
    }
    const sink = (table: string) => `dynamo:${table}?endpoint=${encodeURIComponent(dynamo.endpoint)}&region=us-east-1`
    await createTable(client, 'clean', { partition: ['id', 'S'] })
    assert.is(await hydrateChild(['--source', `json:${input}`, '--sink', sink('clean'), ...mapping, '--concurrency', '4']), 0)
    const expected = await scanAll('clean')
    assert.is(expected.length, 3000)
    for (const [i, delay] of KILLS.entries()) {
      const table = `crashed_${i}`
      await createTable(client, table, { partition: ['id', 'S'] })
      await crashAndResume(
        (ck) => ['--source', `json:${input}`, '--sink', sink(table), ...mapping, '--concurrency', '4', '--checkpoint', ck, '--checkpoint-interval', '50'],
        `${tmp.dir}/dynamo-${i}.ckpt`,
        async () => (await doc.send(new ScanCommand({ TableName: table, Limit: 1 }))).Count! > 0,
        delay,
        `dynamo-${i}`,
      )
      assert.equal(await scanAll(table), expected, `kill ${i}: same items`)
    }
  } finally {
    destroy()
  }
})

test.run()
