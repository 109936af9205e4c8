import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { mergeReports } from '../../lib/report/merge.js'
import type { RunReport } from '../../lib/report/schema.js'
import { reportProblems } from '../../lib/report/validate.js'
import type { Share } from '../../lib/share.js'
import { tempDir } from '../helpers.js'
import { createTable, dynamoEnv, startDynamoTestbed, type DynamoTestbed } from '../servers/dynalite.js'
import { seed, spawnTsx, storeEvent } from './testbed.js'

const test = suite('shares of a DynamoDB table in processes of their own')

const EVENTS = 100_000
const AGGREGATES = 5_000
let bed: DynamoTestbed
let tmp: Awaited<ReturnType<typeof tempDir>>
let env: Record<string, string | undefined>

test.before(async () => {
  bed = await startDynamoTestbed()
  tmp = await tempDir('eh-shares-dynamo-')
  await createTable(bed.raw, 'events', { partition: ['aggregate', 'S'], sort: ['seq', 'N'] })
  await createTable(bed.raw, 'ckpt', { partition: ['id', 'S'] })
  await seed(bed.doc, 'events', Array.from({ length: EVENTS }, (_, i) => storeEvent(i, AGGREGATES)))
  env = dynamoEnv(bed.server.endpoint)
})

test.after(async () => {
  await bed.close()
  await tmp.cleanup()
})

const hydrateCli = (args: string[]) => spawnTsx('cli/main.ts', args[0] === 'plan' ? args : [...args, '--quiet'], env).exited

type Ev = { aggregate: string; seq: number; id: string }
const readOut = async (file: string) =>
  (await readFile(path.join(tmp.dir, file), 'utf8'))
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Ev)

test('4 shares of 100,000 events run at once in 4 processes: their union is a single run, per-key order holds, the merged report adds up', async () => {
  const single = await hydrateCli(['--source', 'dynamo:events', '--sink', `ndjson:${tmp.dir}/single.ndjson`])
  assert.is(single.code, 0, single.stderr)

  const planned = await hydrateCli(['plan', '--source', 'dynamo:events', '--shares', '4'])
  assert.is(planned.code, 0, planned.stderr)
  const shares = JSON.parse(planned.stdout) as Share[]
  assert.is(shares.length, 4)

  const runs = await Promise.all(
    shares.map((share) =>
      hydrateCli([
        '--source', 'dynamo:events',
        '--share', JSON.stringify(share),
        '--sink', `ndjson:${tmp.dir}/share-${share.index}.ndjson`,
        '--checkpoint', 'dynamo:ckpt/run-4',
        '--report', 'json', '--report-file', `${tmp.dir}/report-${share.index}.json`,
      ]),
    ),
  )
  runs.forEach((r, i) => assert.is(r.code, 0, `share ${i}: ${r.stderr}`))

  const all: Ev[] = []
  const sharesOfKey = new Map<string, Set<number>>()
  for (const share of shares) {
    const out = await readOut(`share-${share.index}.ndjson`)
    assert.ok(out.length > 10_000 && out.length < 40_000, `share ${share.index} holds about a quarter: ${out.length}`)
    const lastSeq = new Map<string, number>()
    for (const e of out) {
      assert.ok((lastSeq.get(e.aggregate) ?? -1) < e.seq, `per-key order in share ${share.index}: ${e.aggregate}`)
      lastSeq.set(e.aggregate, e.seq)
      const set = sharesOfKey.get(e.aggregate) ?? new Set()
      set.add(share.index)
      sharesOfKey.set(e.aggregate, set)
    }
    all.push(...out)
  }
  const singleOut = await readOut('single.ndjson')
  const ids = (list: Ev[]) => list.map((e) => e.id).sort()
  assert.is(all.length, EVENTS, 'every event once')
  assert.equal(ids(all), ids(singleOut), 'the union equals a single run')
  for (const [key, set] of sharesOfKey) assert.is(set.size, 1, `${key} is in one share`)

  const reports = await Promise.all(shares.map(async (s) => JSON.parse(await readFile(path.join(tmp.dir, `report-${s.index}.json`), 'utf8')) as RunReport))
  const merged = mergeReports(reports)
  assert.equal(reportProblems(merged), [])
  assert.is(merged.status, 'ok')
  assert.is(merged.source.read, EVENTS)
  assert.is(merged.source.read, merged.filter.matched + merged.filter.unmatched)
  assert.is(merged.filter.matched, merged.sink.written + merged.sink.skipped + merged.sink.failed)
  assert.equal(merged.shares, { count: 4, done: 4, partial: 0, failed: 0, notRun: 0, plan: shares[0]!.plan })
})

test.run()
