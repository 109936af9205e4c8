// Nothing lost, for real: the ways a hostile user lost events or had them applied twice, each
// reproduced against the real parts (a PostgreSQL server, concurrent processes, a full tmpfs) and
// checked to end with every event read applied, dead-lettered, or after the checkpoint's mark.
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { readFile, stat, writeFile } from 'node:fs/promises'
import { hostname } from 'node:os'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { cli } from '../../cli/app.js'
import type { RunReport } from '../../lib/report/report.js'
import { at, captured, events, ndjson, readableOf, tempDir } from '../helpers.js'
import { createDatabase, findPostgresBin, startPostgres, type PostgresServer, type TestDatabase } from '../servers/postgres.js'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
const test = suite('faults: nothing lost')
let tmp: Awaited<ReturnType<typeof tempDir>>
let pg: PostgresServer
let db: TestDatabase
const children = new Set<ChildProcess>()

test.before(async () => {
  tmp = await tempDir()
  pg = await startPostgres()
  db = await createDatabase(pg, 'nothing_lost')
})
test.after(async () => {
  for (const child of children) child.kill('SIGKILL')
  await db?.drop()
  await pg?.stop()
  await tmp.cleanup()
})

const env = { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' }

/** The CLI in a child process: its exit code (-1 when killed by a signal), and its stderr. */
function spawnHydrate(args: string[]) {
  const child = spawn(process.execPath, ['--import', 'tsx', 'cli/main.ts', ...args, '--quiet'], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'], env })
  children.add(child)
  let stderr = ''
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()))
  const guard = setTimeout(() => child.kill('SIGKILL'), 300_000)
  const exited = new Promise<number>((resolve) =>
    child.on('exit', (code, signal) => {
      clearTimeout(guard)
      children.delete(child)
      resolve(signal ? -1 : (code ?? -1))
    }),
  )
  return { child, exited, stderr: () => stderr }
}

async function until(what: string, check: () => Promise<boolean> | boolean, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

async function hydrateInProcess(args: string[]) {
  const stdout = captured()
  const stderr = captured()
  const reportFile = `${tmp.dir}/report-${Math.random().toString(36).slice(2)}.json`
  const code = await cli([...args, '--quiet', '--report-file', reportFile], { stdout, stderr, stdin: readableOf(''), env, cwd: tmp.dir })
  const report = await readFile(reportFile, 'utf8').then((t) => JSON.parse(t) as RunReport, () => undefined)
  return { code, stderr: stderr.text(), report }
}

const readReport = async (file: string) => JSON.parse(await readFile(file, 'utf8')) as RunReport
const M = ['--column', 'k=detail.k', '--column', 'v=detail.v', '--column', 'dt=detail-type', '--key', 'k', '--version-column', 'v']
const keyed = (n: number, f: (i: number) => Record<string, unknown> = () => ({})) =>
  events(n, (i) => ({ detail: { k: `k${i}`, v: i }, ...f(i) }))

test('1. SIGTERM while a PostgreSQL batch waits for its retry: the batch finishes, the resume loses nothing', async () => {
  const n = 6000
  const input = await tmp.file('sigterm.ndjson', ndjson(keyed(n)))
  await db.sql.unsafe('create table sigterm (k text primary key, v bigint, dt text)')
  const sink = `${db.url}?table=sigterm`
  const ck = `${tmp.dir}/sigterm.ckpt`
  const reportFile = `${tmp.dir}/sigterm-1.json`
  const args = ['--source', `json:${input}`, '--sink', sink, ...M, '--checkpoint', ck, '--batch-size', '500']
  // psql holds the table, so the sink's first batch waits for the lock inside its transaction.
  const psql = path.join(findPostgresBin().bin, 'psql')
  const locker = spawn(psql, [db.url, '-c', 'begin', '-c', 'lock table sigterm in access exclusive mode', '-c', 'select pg_sleep(120)'], { stdio: 'ignore' })
  children.add(locker)
  try {
    await until('psql to hold the lock', async () => {
      const [row] = await db.sql`select count(*)::int as n from pg_locks l join pg_class c on c.oid = l.relation where c.relname = 'sigterm' and l.granted and l.mode = 'AccessExclusiveLock'`
      return row!.n > 0
    })
    const run = spawnHydrate([...args, '--report-file', reportFile])
    let backend = 0
    await until('a batch to wait for the lock', async () => {
      const rows = await db.sql`select pid from pg_stat_activity where application_name = 'event-hydrator' and wait_event_type = 'Lock'`
      backend = rows[0]?.pid ?? 0
      return backend > 0
    })
    // The batch loses its connection (57P01) and goes into its retry backoff; the signal comes now.
    await db.sql`select pg_terminate_backend(${backend})`
    run.child.kill('SIGTERM')
    await new Promise((r) => setTimeout(r, 400))
    // End the locking session on the server (killing psql alone leaves its pg_sleep holding the lock).
    await db.sql`select pg_terminate_backend(pid) from pg_stat_activity where application_name = 'psql' and datname = current_database()`
    locker.kill()
    assert.is(await run.exited, 130, run.stderr())
    const first = await readReport(reportFile)
    assert.is(first.status, 'aborted')
    assert.is(first.sink.failed, 0, 'the batch in flight is written, not failed')
    assert.ok(first.sink.written >= 500, `written ${first.sink.written}`)
    assert.ok(Object.values(first.sink.retries).reduce((a, b) => a + b, 0) >= 1, `the batch was retried: ${JSON.stringify(first.sink.retries)}`)
  } finally {
    locker.kill()
  }
  let code = -1
  for (let round = 0; round < 3 && code !== 0; round++) code = await spawnHydrate(args).exited
  assert.is(code, 0)
  const [{ count }] = await db.sql`select count(*)::int as count from sigterm`
  assert.is(count, n, 'every event is in the table')
})

test('2. two runs on one checkpoint: the second is refused while the first holds it, and a stale lock is taken over', async () => {
  const n = 120_000
  const input = await tmp.file('two.ndjson', ndjson(events(n)))
  const clean = `${tmp.dir}/two-clean.ndjson`
  assert.is(await spawnHydrate(['--source', `json:${input}`, '--sink', `ndjson:${clean}`]).exited, 0)
  const out = `${tmp.dir}/two-out.ndjson`
  const ck = `${tmp.dir}/two.ckpt`
  const args = ['--source', `json:${input}`, '--sink', `ndjson:${out}`, '--checkpoint', ck, '--checkpoint-interval', '50']
  // Paced, so that it still holds the lock when the second (a new process) starts, even on a busy machine.
  const first = spawnHydrate([...args, '--rate', '25000/s'])
  await until('the first run to take the lock', () => existsSync(`${ck}.lock`))
  const second = spawnHydrate(args)
  assert.is(await second.exited, 2, 'the second run is refused')
  assert.match(second.stderr(), /ERR_CHECKPOINT_LOCKED/)
  assert.match(second.stderr(), new RegExp(`in use by process ${first.child.pid} on ${hostname().replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`))
  assert.is(await first.exited, 0, first.stderr())
  assert.ok((await readFile(out, 'utf8')) === (await readFile(clean, 'utf8')), 'the output equals a clean run')
  assert.not.ok(existsSync(`${ck}.lock`), 'the lock is released at the end')
  const done = JSON.parse(await readFile(ck, 'utf8'))
  assert.equal(done.totals, { read: n, matched: n, unmatched: 0, written: n, skipped: 0, failed: 0, sourceFailed: 0 })

  // A run killed with SIGKILL leaves its lock behind; its pid is gone, so the next run takes it over.
  const out2 = `${tmp.dir}/two-out2.ndjson`
  const ck2 = `${tmp.dir}/two2.ckpt`
  const args2 = ['--source', `json:${input}`, '--sink', `ndjson:${out2}`, '--checkpoint', ck2, '--checkpoint-interval', '50']
  const killed = spawnHydrate(args2)
  await until('some output', async () => (await stat(out2).catch(() => undefined))?.size! > 100_000)
  killed.child.kill('SIGKILL')
  await killed.exited
  assert.ok(existsSync(`${ck2}.lock`), 'SIGKILL leaves the lock file')
  assert.is(await spawnHydrate(args2).exited, 0)
  assert.ok((await readFile(out2, 'utf8')) === (await readFile(clean, 'utf8')), 'the resumed output equals a clean run')

  // A lock held on another host cannot be checked: refused, saying who and how to clear it.
  await writeFile(`${ck2}.lock`, JSON.stringify({ pid: 1, host: 'build-7.example', token: 'x', since: '2026-12-06T00:00:00.000Z' }))
  const other = spawnHydrate(args2)
  assert.is(await other.exited, 2)
  assert.match(other.stderr(), /process 1 on build-7\.example since 2026-12-06T00:00:00\.000Z/)
  assert.match(other.stderr(), /delete `.*two2\.ckpt\.lock`/)
})

test('3. a full disk: the run stops with the cause, leaves no torn line, and the resume writes the rest', async () => {
  if (process.getuid?.() !== 0) {
    console.log('\n  skipped: the full-disk test mounts a 5 MB tmpfs and needs root')
    return
  }
  const disk = `${tmp.dir}/disk`
  await import('node:fs/promises').then((fs) => fs.mkdir(disk))
  const mount = (opts: string) =>
    new Promise<number>((resolve) => spawn('mount', ['-t', 'tmpfs', '-o', opts, 'tmpfs', disk], { stdio: 'ignore' }).on('exit', (c) => resolve(c ?? 1)))
  if ((await mount('size=5m')) !== 0) {
    console.log('\n  skipped: mounting a tmpfs failed (no permission in this container)')
    return
  }
  try {
    const n = 60_000
    const input = await tmp.file('disk.ndjson', ndjson(events(n, (i) => ({ pad: 'p'.repeat(40 + (i % 20)) }))))
    const clean = `${tmp.dir}/disk-clean.ndjson`
    assert.is(await spawnHydrate(['--source', `json:${input}`, '--sink', `ndjson:${clean}`]).exited, 0)
    const out = `${disk}/out.ndjson`
    const ck = `${tmp.dir}/disk.ckpt`
    const reportFile = `${tmp.dir}/disk-report.json`
    const args = ['--source', `json:${input}`, '--sink', `ndjson:${out}`, '--checkpoint', ck]
    const full = spawnHydrate([...args, '--report-file', reportFile])
    assert.is(await full.exited, 1, full.stderr())
    const report = await readReport(reportFile)
    assert.is(report.status, 'failed')
    assert.is(report.error?.code, 'ERR_OUTPUT')
    assert.match(report.error!.message, /ENOSPC|no space/i)
    assert.ok(report.sink.written > 1000 && report.sink.written < n, `written ${report.sink.written}`)
    const text = await readFile(out, 'utf8')
    assert.ok(text.endsWith('\n'), 'no torn last line')
    const lines = text.split('\n').filter(Boolean)
    for (const line of lines) JSON.parse(line)
    assert.is(lines.length, report.sink.written)
    const saved = JSON.parse(await readFile(ck, 'utf8'))
    assert.is(saved.complete, false)
    assert.ok(saved.totals.written <= report.sink.written)
    // Space is freed; the resume writes the rest.
    assert.is(await mount('remount,size=64m'), 0)
    assert.is(await spawnHydrate(args).exited, 0)
    assert.ok((await readFile(out, 'utf8')) === (await readFile(clean, 'utf8')), 'the output equals a clean run')
  } finally {
    await new Promise((resolve) => spawn('umount', ['-l', disk], { stdio: 'ignore' }).on('exit', resolve))
  }
})

test('4. append mode killed with SIGKILL: nothing lost, and at most the batches in flight written twice', async () => {
  const n = 20_000
  const batch = 200
  const input = await tmp.file('append.ndjson', ndjson(keyed(n)))
  for (const [i, after] of [0, 3000].entries()) {
    const table = `appended_${i}`
    await db.sql.unsafe(`create table ${table} (k text, v bigint, dt text)`)
    const sink = `${db.url}?table=${table}&mode=append`
    const args = ['--source', `json:${input}`, '--sink', sink, ...M.slice(0, 8), '--checkpoint', `${tmp.dir}/append-${i}.ckpt`, '--batch-size', String(batch)]
    const run = spawnHydrate(args)
    // Killed as soon as the first batch is in the table (before any periodic checkpoint could be
    // written), or later.
    await until('rows in the table', async () => (await db.sql.unsafe(`select count(*)::int as n from ${table}`))[0]!.n > after)
    run.child.kill('SIGKILL')
    assert.is(await run.exited, -1)
    let code = -1
    for (let round = 0; round < 3 && code !== 0; round++) code = await spawnHydrate(args).exited
    assert.is(code, 0)
    const [{ total, distinct }] = await db.sql.unsafe(`select count(*)::int as total, count(distinct k)::int as distinct from ${table}`)
    assert.is(distinct, n, 'every event is in the table')
    assert.ok(total - n <= 2 * batch, `kill ${i}: ${total - n} rows written twice, at most ${2 * batch} allowed`)
  }
})

test('6. an event nested 100,000 levels deep is written as read, or fails alone when it must be serialized, into NDJSON and into the dead-letter file', async () => {
  let deep = '1'
  for (let i = 0; i < 100_000; i++) deep = `{"d":${deep}}`
  const items = events(40)
  const lines = items.map((e) => JSON.stringify(e))
  lines[20] = `{"id":"deep","source":"orders","detail-type":"OrderPlaced","detail":${deep}}`
  await tmp.file('deep.ndjson', lines.join('\n') + '\n')
  // Unchanged, it is written as the line it was read as (no JSON.stringify to fail).
  const pass = await hydrateInProcess(['--source', 'json:deep.ndjson', '--sink', 'ndjson:deep-pass.ndjson'])
  assert.is(pass.code, 0, pass.stderr)
  assert.is((await readFile(`${tmp.dir}/deep-pass.ndjson`, 'utf8')).split('\n')[20], lines[20])
  // Through a transform it must be serialized: it fails alone.
  await tmp.file('identity.mjs', 'export default (e) => e\n')
  const r = await hydrateInProcess(['--source', 'json:deep.ndjson', '--transform', './identity.mjs', '--sink', 'ndjson:deep-out.ndjson', '--dead-letter', 'deep-dl.ndjson'])
  assert.is(r.code, 1, r.stderr)
  assert.is(r.report!.status, 'partial')
  assert.is(r.report!.sink.written, 39)
  assert.is(r.report!.sink.failed, 1)
  const failure = r.report!.failures.samples[0]!
  assert.is(failure.code, 'ERR_UNSERIALIZABLE')
  assert.is(at(failure.position)?.line, 21)
  assert.is((await readFile(`${tmp.dir}/deep-out.ndjson`, 'utf8')).trim().split('\n').length, 39, 'later lines were read and written')
  const [letter] = (await readFile(`${tmp.dir}/deep-dl.ndjson`, 'utf8')).trim().split('\n').map((l) => JSON.parse(l))
  assert.is(letter.position.line, 21)
  assert.match(letter.eventError, /cannot be written as JSON/)
  // A storage sink: the mapping fails the event, the rest is written.
  await db.sql.unsafe('create table deep (k text primary key, body jsonb)')
  const p = await hydrateInProcess(['--source', 'json:deep.ndjson', '--sink', `${db.url}?table=deep`, '--column', 'k=id', '--column', 'body=.', '--key', 'k', '--dead-letter', 'deep-dl2.ndjson'])
  assert.is(p.code, 1, p.stderr)
  assert.is(p.report!.sink.written, 39)
  assert.is(p.report!.sink.failed, 1)
  assert.is(at(p.report!.failures.samples[0]!.position)?.line, 21)
})

test('7. a transform that throws fails its event (ERR_TRANSFORM, with its position), and the run goes on', async () => {
  await tmp.file('throwing-transform.mjs', "export default (e) => { if (e.id === 'e5' || e.id === 'e9') throw new Error(`cannot map ${e.id}`); return { ...e, mapped: true } }\n")
  await tmp.file('transform-in.ndjson', ndjson(events(12)))
  const r = await hydrateInProcess(['--source', 'json:transform-in.ndjson', '--transform', './throwing-transform.mjs', '--sink', 'ndjson:transform-out.ndjson', '--dead-letter', 'transform-dl.ndjson', '--checkpoint', 'transform.ckpt'])
  assert.is(r.code, 1, r.stderr)
  const report = r.report!
  assert.is(report.status, 'partial')
  assert.is(report.sink.written, 10)
  assert.is(report.sink.failed, 2)
  assert.is(report.source.read, report.filter.matched + report.filter.unmatched)
  assert.is(report.filter.matched, report.sink.written + report.sink.skipped + report.sink.failed)
  const f = report.failures.samples[0]!
  assert.is(f.code, 'ERR_TRANSFORM')
  assert.is(f.stage, 'transform')
  assert.is(at(f.position)?.line, 6)
  assert.match(f.message, /cannot map e5/)
  const letters = (await readFile(`${tmp.dir}/transform-dl.ndjson`, 'utf8')).trim().split('\n').map((l) => JSON.parse(l))
  assert.equal(letters.map((l) => l.event.id), ['e5', 'e9'])
  assert.is(report.checkpoint?.complete, true, 'both failures are in the dead-letter file')
  // A rerun finds the job complete, and does not call it clean: its failures are in the dead-letter file.
  const rerun = await hydrateInProcess(['--source', 'json:transform-in.ndjson', '--transform', './throwing-transform.mjs', '--sink', 'ndjson:transform-out.ndjson', '--dead-letter', 'transform-dl.ndjson', '--checkpoint', 'transform.ckpt'])
  assert.is(rerun.code, 1)
  assert.match(rerun.stderr, /already completed \(12 events read, 10 written, 0 skipped, 2 failed, kept in the dead-letter file\)/)
  // Without a dead-letter file, the checkpoint stays before the first failure.
  const again = await hydrateInProcess(['--source', 'json:transform-in.ndjson', '--transform', './throwing-transform.mjs', '--sink', 'ndjson:transform-out2.ndjson', '--checkpoint', 'transform2.ckpt'])
  assert.is(again.report!.checkpoint?.complete, false)
  assert.is(at(again.report!.checkpoint?.position)?.line, 5)
  assert.is(again.report!.checkpoint?.held, 2)
  assert.match(again.stderr, /2 failure\(s\) in no dead-letter file hold it there/)
})

test('8. failure messages are capped: huge values do not blow up the report or the dead-letter file', async () => {
  const big = 'x'.repeat(1_000_000)
  await tmp.file('huge.ndjson', ndjson(keyed(20, () => ({ detail: { k: `k${Math.random()}`, v: big } }))))
  await db.sql.unsafe('create table huge (k text primary key, v bigint, dt text)')
  const r = await hydrateInProcess(['--source', 'json:huge.ndjson', '--sink', `${db.url}?table=huge`, ...M, '--dead-letter', 'huge-dl.ndjson', '--report', 'json'])
  assert.is(r.report!.sink.failed, 20)
  assert.is(r.report!.failures.samples[0]!.code, 'ERR_MAPPING')
  const reportBytes = JSON.stringify(r.report).length
  assert.ok(reportBytes < 100_000, `the report is ${reportBytes} bytes`)
  const dlBytes = (await stat(`${tmp.dir}/huge-dl.ndjson`)).size
  assert.ok(dlBytes < 20 * (big.length + 5_000), `the dead-letter file holds each event once (${dlBytes} bytes)`)
  for (const line of (await readFile(`${tmp.dir}/huge-dl.ndjson`, 'utf8')).trim().split('\n')) {
    const letter = JSON.parse(line)
    assert.is(letter.event.detail.v.length, big.length, 'the event stays whole')
    assert.ok(letter.message.length < 2_100)
  }
})

test.run()
