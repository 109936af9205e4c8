// postgresClient(): the client for code that makes its own, because the documented
// `postgres(url, { socket: postgresSocket })` did not typecheck under strict mode. The usage code of
// docs/postgres.md is typechecked as written, and the client is run against a real server.
import { execFile } from 'node:child_process'
import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { pipe } from 'it-pipe'
import { postgresClient } from '../../lib/postgres/connect.js'
import { toPostgres } from '../../lib/postgres/sink.js'
import { createDatabase, startPostgres, type PostgresServer, type TestDatabase } from '../servers/postgres.js'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const test = suite<{ server: PostgresServer; db: TestDatabase }>('postgresClient', {} as never)

test.before(async (context) => {
  context.server = await startPostgres()
  context.db = await createDatabase(context.server, 'pg_client')
})

test.after(async (context) => {
  await context.db?.drop()
  await context.server?.stop()
})

test('the usage code of docs/postgres.md typechecks under strict mode, as written', async () => {
  const docs = await readFile(path.join(root, 'docs/postgres.md'), 'utf8')
  const usage = /## Usage\n\n```ts\n([\s\S]*?)```/.exec(docs)?.[1]
  assert.ok(usage, 'docs/postgres.md has a Usage code block')
  assert.match(usage, /postgresClient\(/)
  const dir = path.join(root, '.tmp', `docs-check-${process.pid}`)
  await mkdir(dir, { recursive: true })
  try {
    await writeFile(path.join(dir, 'usage.ts'), usage)
    // The project's settings (strict, NodeNext, `event-hydrator/*` resolving to lib/), this file only.
    await writeFile(
      path.join(dir, 'tsconfig.json'),
      JSON.stringify({ extends: '../../tsconfig.json', compilerOptions: { noUnusedLocals: false }, include: [], files: ['usage.ts'] }),
    )
    const tsc = path.join(root, 'node_modules/typescript/bin/tsc')
    const result = await promisify(execFile)(process.execPath, [tsc, '-p', path.join(dir, 'tsconfig.json')], { cwd: root }).then(
      () => '',
      (error: { stdout?: string; message: string }) => error.stdout || error.message,
    )
    assert.is(result, '', `docs/postgres.md usage does not typecheck:\n${result}`)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
})

test('makes a working client whose connections the sink can watch (timeoutMs is accepted)', async ({ db }) => {
  const sql = await postgresClient(db.url, { onnotice: () => {}, max: 2 })
  try {
    await sql.unsafe('create table orders (id text primary key, amount int)')
    async function* events() {
      yield* [1, 2, 3].map((i) => ({ detail: { id: `o-${i}`, amount: i * 10 } }))
    }
    const result = await pipe(events(), toPostgres({ sql, table: 'orders', timeoutMs: 30_000, mapping: { columns: { id: 'detail.id', amount: 'detail.amount' }, key: ['id'] } }))
    assert.is(result.written, 3)
    const rows = await sql.unsafe('select id, amount from orders order by id')
    assert.equal(rows.map((r) => [r.id, r.amount]), [['o-1', 10], ['o-2', 20], ['o-3', 30]])
    // A plain postgres() client is refused for timeoutMs: postgresClient() is what makes it work.
    const plain = (await import('postgres')).default(db.url, { onnotice: () => {} })
    try {
      assert.throws(() => toPostgres({ sql: plain, table: 'orders', timeoutMs: 30_000, mapping: { columns: { id: 'detail.id' }, key: ['id'] } }), /postgresClient/)
    } finally {
      await plain.end({ timeout: 1 })
    }
  } finally {
    await sql.end({ timeout: 1 })
  }
})

test.run()
