import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { Client } from '@opensearch-project/opensearch'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { cli } from '../cli/app.js'
import { hydrate } from '../lib/hydrate.js'
import { planShares } from '../lib/plan-shares.js'
import { mergeReports } from '../lib/report/merge.js'
import type { Share } from '../lib/share.js'
import { captured, readableOf, rejects, tempDir } from './helpers.js'
import { startOpenSearchServer, type OpenSearchTestServer } from './servers/opensearch-server.js'

const test = suite('shares: a run split N ways reads every event exactly once')

let tmp: Awaited<ReturnType<typeof tempDir>>
let dir: string
let search: OpenSearchTestServer
const FILES = 10
const PER_FILE = 57

const event = (f: number, i: number) => ({ id: `f${f}-e${i}`, 'detail-type': 'T', detail: { key: `k${f}`, i } })

test.before(async () => {
  tmp = await tempDir('eh-shares-')
  dir = tmp.dir
  await mkdir(path.join(dir, 'events'))
  for (let f = 0; f < FILES; f++) {
    // Different sizes, so that byte-balanced ranges are not just file counts.
    const n = PER_FILE + f * 3
    const lines = Array.from({ length: n }, (_, i) => JSON.stringify(event(f, i)))
    await writeFile(path.join(dir, 'events', `events-${f + 1}.ndjson`), lines.join('\n') + '\n')
  }
  await writeFile(path.join(dir, 'one.ndjson'), JSON.stringify(event(0, 0)) + '\n')
  search = await startOpenSearchServer()
})

test.after(async () => {
  await search.close()
  await tmp.cleanup()
})

const lines = async (file: string) =>
  (await readFile(path.join(dir, file), 'utf8').catch(() => ''))
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as { id: string; detail: { key: string; i: number } })

test('a folder split 4 ways: every event once, each file whole in one share, in order; the merged report adds up', async () => {
  const shares = await planShares({ source: 'json:events', shares: 4, cwd: dir })
  await mkdir(path.join(dir, 'out'), { recursive: true })
  assert.is(shares.length, 4)
  assert.ok(shares.every((s) => s.plan === shares[0]!.plan && s.count === 4 && s.source === 'json:events'))
  const reports = []
  for (const share of shares) {
    reports.push(await hydrate({ source: 'json:events', sink: `ndjson:out/share-${share.index}.ndjson`, share, checkpoint: 'out/run.ckpt', cwd: dir }))
  }
  const all: string[] = []
  const keysByShare: Set<string>[] = []
  for (let i = 0; i < 4; i++) {
    const out = await lines(`out/share-${i}.ndjson`)
    assert.ok(out.length > 0, `share ${i} read something`)
    keysByShare.push(new Set(out.map((e) => e.detail.key)))
    // Per key, the original order.
    const lastByKey = new Map<string, number>()
    for (const e of out) {
      assert.ok((lastByKey.get(e.detail.key) ?? -1) < e.detail.i)
      lastByKey.set(e.detail.key, e.detail.i)
    }
    all.push(...out.map((e) => e.id))
  }
  const expected = Array.from({ length: FILES }, (_, f) => Array.from({ length: PER_FILE + f * 3 }, (_, i) => `f${f}-e${i}`)).flat()
  assert.equal([...all].sort(), [...expected].sort(), 'the union is every event, once')
  for (let a = 0; a < 4; a++) for (let b = a + 1; b < 4; b++) for (const k of keysByShare[a]!) assert.not.ok(keysByShare[b]!.has(k), `key ${k} in two shares`)
  // Each share has its own checkpoint.
  for (let i = 1; i <= 4; i++) assert.ok(JSON.parse(await readFile(path.join(dir, `out/run.share-${i}-of-4.ckpt`), 'utf8')).complete)
  const merged = mergeReports(reports)
  assert.is(merged.source.read, expected.length)
  assert.is(merged.sink.written, expected.length)
  assert.equal(merged.shares, { count: 4, done: 4, partial: 0, failed: 0, notRun: 0, plan: shares[0]!.plan })
  assert.equal(reports[2]!.share, { plan: shares[0]!.plan, index: 2, count: 4 })
  // A share run again is already done.
  const again = await hydrate({ source: 'json:events', sink: 'ndjson:out/share-2.ndjson', share: shares[2]!, checkpoint: 'out/run.ckpt', cwd: dir })
  assert.is(again.checkpoint?.alreadyComplete, true)
})

test('more shares than files: the extra shares are empty, and nothing is read twice', async () => {
  const shares = await planShares({ source: 'json:events', shares: 13, cwd: dir })
  let total = 0
  for (const share of shares) {
    const report = await hydrate({ source: 'json:events', sink: `ndjson:out13/s${share.index}.ndjson`, share, cwd: dir })
    total += report.source.read
  }
  assert.is(total, Array.from({ length: FILES }, (_, f) => PER_FILE + f * 3).reduce((a, b) => a + b))
})

test('a share of another plan, a tampered share, and sources that cannot split are refused before anything is read', async () => {
  const [share] = await planShares({ source: 'json:events', shares: 2, cwd: dir })
  const error = await rejects(hydrate({ source: 'json:other', sink: 'ndjson:out/x.ndjson', share: share!, cwd: dir }), 'ERR_SHARE_MISMATCH', /another source: `json:events`/)
  assert.match(error.message, /hydrate plan --source json:other/)
  const tampered: Share = { ...share!, count: 3 }
  await rejects(hydrate({ source: 'json:events', sink: 'ndjson:out/x.ndjson', share: tampered, cwd: dir }), 'ERR_SHARE_MISMATCH', /not from a plan/)
  await rejects(hydrate({ source: 'json:events', sink: 'ndjson:out/x.ndjson', share: '{"plan":', cwd: dir }), 'ERR_INVALID_OPTION', /--share/)
  const edited = { ...share!, part: { files: { from: null, before: null } } }
  await rejects(hydrate({ source: 'json:events', sink: 'ndjson:out/x.ndjson', share: edited, cwd: dir }), 'ERR_SHARE_MISMATCH', /was edited/)
  await rejects(hydrate({ source: 'json:events', sink: 'ndjson:out/x.ndjson', share: { ...share!, index: 5 }, cwd: dir }), 'ERR_INVALID_OPTION')
  assert.is(await readFile(path.join(dir, 'out/x.ndjson')).catch(() => undefined), undefined, 'nothing written')
  await rejects(planShares({ source: 'json:one.ndjson', shares: 2, cwd: dir }), 'ERR_SHARES_UNSUPPORTED', /one file/)
  await rejects(planShares({ source: 'json:-', shares: 2, cwd: dir }), 'ERR_SHARES_UNSUPPORTED', /stdin/)
  await rejects(planShares({ source: 'postgres://db/x', shares: 2, cwd: dir }), 'ERR_SHARES_UNSUPPORTED', /dynamo:.*json:.*opensearch:/)
  await rejects(planShares({ source: 'json:events', shares: 0, cwd: dir }), 'ERR_INVALID_OPTION', /1 to 10000/)
  await rejects(planShares({ source: 'dynamo:events?partition=a', shares: 2, cwd: dir, env: {} }), 'ERR_SHARES_UNSUPPORTED', /partition/)
})

test('the CLI: `hydrate plan` prints the shares as a JSON array, and `--share` runs one', async () => {
  const stdout = captured()
  const stderr = captured()
  await mkdir(path.join(dir, 'cli'), { recursive: true })
  const code = await cli(['plan', '--source', 'json:events', '--shares', '3'], { stdout, stderr, stdin: readableOf(''), env: process.env, cwd: dir })
  assert.is(code, 0, stderr.text())
  const shares = JSON.parse(stdout.text()) as Share[]
  assert.is(shares.length, 3)
  let total = 0
  for (const share of shares) {
    const err = captured()
    const runCode = await cli(
      ['--source', 'json:events', '--share', JSON.stringify(share), '--sink', `ndjson:cli/s${share.index}.ndjson`, '--checkpoint', 'cli/run.ckpt', '--quiet'],
      { stdout: captured(), stderr: err, stdin: readableOf(''), env: process.env, cwd: dir },
    )
    assert.is(runCode, 0, err.text())
    total += (await lines(`cli/s${share.index}.ndjson`)).length
  }
  assert.is(total, Array.from({ length: FILES }, (_, f) => PER_FILE + f * 3).reduce((a, b) => a + b))
  const bad = captured()
  const badCode = await cli(['--source', 'json:events', '--share', '{"nope":1}', '--sink', 'ndjson:cli/bad.ndjson'], { stdout: captured(), stderr: bad, stdin: readableOf(''), env: process.env, cwd: dir })
  assert.is(badCode, 2)
  assert.match(bad.text(), /ERR_INVALID_OPTION: --share/)
})

test('OpenSearch: shares are slices of the index, disjoint and together complete', async () => {
  const client = new Client({ node: search.url })
  const docs = Array.from({ length: 300 }, (_, i) => ({ id: `d${String(i).padStart(4, '0')}`, time: new Date(Date.UTC(2024, 0, 1) + i * 1000).toISOString(), n: i }))
  await client.indices.create({ index: 'events', body: { mappings: { properties: { id: { type: 'keyword' }, time: { type: 'date' }, n: { type: 'long' } } } } as never })
  await client.bulk({ index: 'events', body: docs.flatMap((d) => [{ index: { _id: d.id } }, d]), refresh: 'true' })
  await client.close()
  const source = `opensearch:${search.url}/events?sort=time,id`
  const shares = await planShares({ source, shares: 3, cwd: dir })
  assert.equal(shares.map((s) => s.part), [0, 1, 2].map((id) => ({ slice: { id, max: 3 } })))
  const seen: string[] = []
  for (const share of shares) {
    const report = await hydrate({ source, share, sink: `ndjson:os/s${share.index}.ndjson`, cwd: dir })
    assert.is(report.status, 'ok')
    const out = await lines(`os/s${share.index}.ndjson`)
    assert.ok(out.length > 0 && out.length < 300)
    seen.push(...out.map((e) => e.id))
  }
  assert.equal(seen.sort(), docs.map((d) => d.id))
})

test.after.each(async () => {
  await rm(path.join(dir, 'out'), { recursive: true, force: true })
})

test.run()
