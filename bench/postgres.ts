// npx tsx bench/postgres.ts [--events N] [--rounds R]
// N events (default 1,000,000) from an NDJSON file into PostgreSQL through the CLI, upsert mode and
// append mode, each against a hand-written baseline with the same `postgres` client in the same
// run: a plain batched unnest / INSERT ... ON CONFLICT loop, and one plain COPY. Each side runs in a
// process of its own started the same way (node --import tsx), reads and parses the same file, and
// writes into a fresh table of the same shape on a throwaway cluster (Debian's binaries). Both use
// postgresSocket (TCP_NODELAY), so the ratio is what event-hydrator adds, not socket tuning.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true'

import { spawnSync } from 'node:child_process'
import { createReadStream } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { once } from 'node:events'
import os from 'node:os'
import path from 'node:path'
import { createInterface } from 'node:readline'
import { fileURLToPath } from 'node:url'
import postgres from 'postgres'
import { postgresSocket } from '../lib/postgres/socket.js'
import { eventsArg, isMain, printRows, type BenchRow } from './common.js'
import { generateFile } from './generate.js'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const BATCH = 500
const COLUMNS = ['id', 'aggregate', 'type', 'version', 'amount', 'detail'] as const
const MAPPING = [
  '--key', 'id', '--version-column', 'version',
  '--column', 'id=id', '--column', 'aggregate=detail.aggregateId', '--column', 'type=detail-type',
  '--column', 'version=detail.version', '--column', 'amount=detail.amount', '--column', 'detail=detail',
]

interface Event {
  id: string
  'detail-type': string
  detail: { aggregateId: string; version: number; amount: number }
}

/** The row values of an event as text, as a hand-written loop would take them. */
function texts(e: Event): string[] {
  return [e.id, e.detail.aggregateId, e['detail-type'], String(e.detail.version), String(e.detail.amount), JSON.stringify(e.detail)]
}

function arrayLiteral(values: readonly string[]): string {
  return '{' + values.map((v) => '"' + v.replace(/["\\]/g, '\\$&') + '"').join(',') + '}'
}

async function* lines(file: string): AsyncGenerator<Event> {
  const rl = createInterface({ input: createReadStream(file, { highWaterMark: 1 << 20 }), crlfDelay: Infinity })
  for await (const line of rl) if (line) yield JSON.parse(line) as Event
}

/** The upsert baseline: batches of 500 as one unnest INSERT ... ON CONFLICT each, awaited in turn. */
async function bareUpsert(url: string, file: string, table: string): Promise<number> {
  const sql = postgres(url, { max: 1, onnotice: () => {}, socket: postgresSocket } as Parameters<typeof postgres>[1])
  const statement =
    `insert into ${table} as t (${COLUMNS.join(', ')}) ` +
    `select id, aggregate, type, version::bigint, amount::numeric, detail::jsonb ` +
    `from unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[]) as u(${COLUMNS.join(', ')}) ` +
    `on conflict (id) do update set aggregate = excluded.aggregate, type = excluded.type, version = excluded.version, ` +
    `amount = excluded.amount, detail = excluded.detail where t.version < excluded.version`
  let columns: string[][] = COLUMNS.map(() => [])
  let count = 0
  const flush = async () => {
    if (columns[0]!.length === 0) return
    await sql.unsafe(statement, columns.map(arrayLiteral), { prepare: true })
    columns = COLUMNS.map(() => [])
  }
  for await (const e of lines(file)) {
    texts(e).forEach((t, i) => columns[i]!.push(t))
    count++
    if (columns[0]!.length === BATCH) await flush()
  }
  await flush()
  await sql.end()
  return count
}

/** The append baseline: one COPY ... FROM STDIN of every row, written with backpressure. */
async function bareCopy(url: string, file: string, table: string): Promise<number> {
  const sql = postgres(url, { max: 1, onnotice: () => {}, socket: postgresSocket } as Parameters<typeof postgres>[1])
  const stream = await sql.unsafe(`copy ${table} (${COLUMNS.join(', ')}) from stdin`).writable()
  let chunk = ''
  let count = 0
  for await (const e of lines(file)) {
    chunk += texts(e).map((t) => t.replace(/[\\\t\n\r]/g, (c) => ({ '\\': '\\\\', '\t': '\\t', '\n': '\\n', '\r': '\\r' })[c]!)).join('\t') + '\n'
    count++
    if (chunk.length > 1 << 16) {
      if (!stream.write(chunk)) await once(stream, 'drain')
      chunk = ''
    }
  }
  await new Promise<void>((resolve, reject) => stream.end(chunk, (error?: Error | null) => (error ? reject(error) : resolve())))
  await sql.end()
  return count
}

/** Times `args` in a child process (node --import tsx ...), which must exit 0. */
function timed(args: string[]): number {
  const started = performance.now()
  const r = spawnSync(process.execPath, ['--import', 'tsx', ...args], { cwd: root, stdio: ['ignore', 'ignore', 'inherit'], env: process.env })
  const ms = performance.now() - started
  if (r.status !== 0) throw new Error(`${args.join(' ')} exited with ${r.status}`)
  return ms
}

/** Runs the PostgreSQL scenarios; returns one row per mode. */
export async function benchPostgres({ events = 1_000_000, rounds = 1 } = {}): Promise<BenchRow[]> {
  const { startPostgres, createDatabase } = await import('../test/servers/postgres.js')
  const dir = await mkdtemp(path.join(os.tmpdir(), 'eh-bench-pg-'))
  const server = await startPostgres()
  const db = await createDatabase(server, 'bench')
  try {
    const file = path.join(dir, 'events.ndjson')
    await generateFile(file, events)
    const self = fileURLToPath(import.meta.url)
    const sink = (table: string, mode = '') => `postgres://postgres@127.0.0.1:${server.port}/${db.name}?table=${table}${mode}`
    const shape = `(id text ${'%PK%'}, aggregate text not null, type text not null, version bigint not null, amount numeric, detail jsonb)`
    const fresh = async (table: string, primaryKey: boolean) => {
      await db.sql.unsafe(`drop table if exists ${table}; create table ${table} ${shape.replace('%PK%', primaryKey ? 'primary key' : '')}`)
      await db.sql.unsafe('checkpoint')
    }
    const count = async (table: string) => Number((await db.sql.unsafe(`select count(*)::int8 as n from ${table}`))[0]!.n)

    const best = { upsert: [Infinity, Infinity], append: [Infinity, Infinity] }
    for (let round = 0; round < rounds; round++) {
      for (const mode of ['upsert', 'append'] as const) {
        const primaryKey = mode === 'upsert'
        // Alternate which side goes first, so neither always meets a warmer cache.
        const order = round % 2 === 0 ? (['bare', 'ours'] as const) : (['ours', 'bare'] as const)
        for (const side of order) {
          const table = `${side}_${mode}`
          await fresh(table, primaryKey)
          const ms =
            side === 'bare'
              ? timed([self, '--bare', mode, db.url, file, table])
              : timed(['cli/main.ts', '--source', `json:${file}`, '--sink', sink(table, mode === 'append' ? '&mode=append' : ''), ...MAPPING, '--quiet'])
          const n = await count(table)
          if (n !== events) throw new Error(`${table} holds ${n} rows, expected ${events}`)
          const slot = side === 'bare' ? 0 : 1
          best[mode][slot] = Math.min(best[mode][slot]!, ms)
        }
      }
    }
    const n = events.toLocaleString('en-US')
    return [
      {
        scenario: `${n} events NDJSON -> postgres upsert (CLI, batches of ${BATCH}, version guard) vs unnest INSERT ... ON CONFLICT loop`,
        baselineMs: best.upsert[0]!,
        ours: best.upsert[1]!,
        ratio: best.upsert[1]! / best.upsert[0]!,
      },
      {
        scenario: `${n} events NDJSON -> postgres append (CLI, COPY per batch) vs one raw COPY`,
        baselineMs: best.append[0]!,
        ours: best.append[1]!,
        ratio: best.append[1]! / best.append[0]!,
      },
    ]
  } finally {
    await db.drop().catch(() => {})
    await server.stop()
    await rm(dir, { recursive: true, force: true })
  }
}

if (isMain(import.meta.url)) {
  const bare = process.argv.indexOf('--bare')
  if (bare > 0) {
    const [mode, url, file, table] = process.argv.slice(bare + 1) as [string, string, string, string]
    await (mode === 'upsert' ? bareUpsert : bareCopy)(url, file, table)
  } else {
    const i = process.argv.indexOf('--rounds')
    const rounds = i > 0 ? Number(process.argv[i + 1]) : 1
    const events = eventsArg(1_000_000)
    console.log(`${events.toLocaleString('en-US')} events, best of ${rounds}; each side in its own process, wall time including start-up\n`)
    printRows(await benchPostgres({ events, rounds }))
  }
}
