import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { hydrate } from '../../lib/hydrate.js'
import { tempDir } from '../helpers.js'
import { createTable, dynamoEnv, startDynamoTestbed, type DynamoTestbed } from '../servers/dynalite.js'
import { seed } from '../aws-lambda/testbed.js'

const test = suite('--order-by on a DynamoDB scan: the original order restored')

const EVENTS = 100_000
let bed: DynamoTestbed
let tmp: Awaited<ReturnType<typeof tempDir>>

test.before(async () => {
  bed = await startDynamoTestbed()
  tmp = await tempDir('eh-dynamo-order-')
  await createTable(bed.raw, 'events', { partition: ['id', 'S'] })
  // Loaded in a shuffled order, with times in several offsets: a scan returns them by key hash.
  const base = Date.UTC(2026, 0, 1)
  const items = Array.from({ length: EVENTS }, (_, i) => {
    const t = new Date(base + i * 1000)
    // Every third event carries its time in +02:00: the same instant, another text.
    const time = i % 3 === 0 ? new Date(t.getTime() + 2 * 3600_000).toISOString().replace('Z', '+02:00') : t.toISOString()
    return { id: `e${(i * 7919) % EVENTS}-${i}`, n: i, time }
  })
  for (let i = items.length - 1; i > 0; i--) {
    const j = (i * 48271) % (i + 1)
    ;[items[i], items[j]] = [items[j]!, items[i]!]
  }
  await seed(bed.doc, 'events', items)
})

test.after(async () => {
  await bed.close()
  await tmp.cleanup()
})

test('100,000 events scanned from a table loaded in shuffled order come out exactly in time order', async () => {
  const report = await hydrate({
    source: 'dynamo:events',
    sink: 'ndjson:ordered.ndjson',
    orderBy: 'time',
    sortMemory: '8MB',
    tempDir: tmp.dir,
    cwd: tmp.dir,
    env: dynamoEnv(bed.server.endpoint),
  })
  assert.is(report.status, 'ok')
  assert.is(report.sink.written, EVENTS)
  const out = (await readFile(path.join(tmp.dir, 'ordered.ndjson'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l).n as number)
  assert.is(out.length, EVENTS)
  for (let i = 0; i < out.length; i++) if (out[i] !== i) assert.unreachable(`event ${out[i]} at place ${i}`)
})

test.run()
