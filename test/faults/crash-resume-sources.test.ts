// Crash and resume from the DynamoDB and OpenSearch sources: a CLI run killed with SIGKILL at several
// points, then resumed from its checkpoint (DynamoDB: every segment's ExclusiveStartKey;
// OpenSearch: search_after sort values in a new point in time), writes exactly the NDJSON of an
// uninterrupted run: nothing lost, nothing twice.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true'

import { readFile, stat } from 'node:fs/promises'
import { BatchWriteCommand } from '@aws-sdk/lib-dynamodb'
import { Client } from '@opensearch-project/opensearch'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { createTable, dynamoClients, startDynalite, type DynaliteServer } from '../servers/dynalite.js'
import { startOpenSearchServer, type OpenSearchTestServer } from '../servers/opensearch-server.js'
import { tempDir } from '../helpers.js'
import { crashAndResume, hydrateChild } from './cli-child.js'

const COUNT = process.env.FULL ? 60_000 : 6_000
const KILL_AT_BYTES = [1, 150_000, 400_000]
const test = suite('crash and resume: DynamoDB and OpenSearch sources')
let tmp: Awaited<ReturnType<typeof tempDir>>
let dynamo: DynaliteServer
let opensearch: OpenSearchTestServer

/** Event i of stream i % 40, with a payload so the output has some size. */
const event = (i: number) => ({
  stream: `s${i % 40}`,
  seq: Math.floor(i / 40),
  id: `e${String(i).padStart(6, '0')}`,
  time: new Date(Date.UTC(2024, 0, 1) + Math.floor(i / 4) * 1000).toISOString(),
  'detail-type': i % 3 ? 'OrderPlaced' : 'OrderShipped',
  detail: { n: i, note: 'x'.repeat(40) },
})

test.before(async () => {
  tmp = await tempDir()
  dynamo = await startDynalite()
  opensearch = await startOpenSearchServer()
})
test.after(async () => {
  await dynamo?.close()
  await opensearch?.close()
  await tmp.cleanup()
})

const sortedLines = async (file: string) => (await readFile(file, 'utf8')).split('\n').filter(Boolean).sort()
const bytesOf = (file: string) => stat(file).then((s) => s.size, () => 0)

/** A clean run, then runs killed at several output sizes and resumed: each output has the clean run's lines once. */
async function killAndResumeAll(source: string, label: string, resumeField: 'cursor' | 'sort') {
  const rule = '{"detail-type":["OrderPlaced"]}'
  const clean = `${tmp.dir}/${label}-clean.ndjson`
  assert.is(await hydrateChild(['--source', source, '--filter', rule, '--sink', `ndjson:${clean}`]), 0)
  const expected = await sortedLines(clean)
  assert.is(expected.length, COUNT - Math.ceil(COUNT / 3), `${label}: the clean run wrote every match`)
  for (const [i, bytes] of KILL_AT_BYTES.entries()) {
    const out = `${tmp.dir}/${label}-${i}.ndjson`
    const ck = `${tmp.dir}/${label}-${i}.ckpt`
    const atKill = await crashAndResume(
      (checkpoint) => ['--source', source, '--filter', rule, '--sink', `ndjson:${out}`, '--checkpoint', checkpoint, '--checkpoint-interval', '20', '--batch-size', '50'],
      ck,
      async () => (await bytesOf(out)) >= bytes,
      0,
      `${label} killed at ${bytes} bytes`,
    )
    if (bytes > 1) assert.ok(atKill?.position?.[resumeField], `${label} killed at ${bytes} bytes: the checkpoint holds a ${resumeField} to resume from`)
    const got = await sortedLines(out)
    assert.is(got.length, expected.length, `${label} killed at ${bytes} bytes: as many lines as a clean run`)
    assert.ok(got.every((line, j) => line === expected[j]), `${label} killed at ${bytes} bytes: the same lines`)
    const checkpoint = JSON.parse(await readFile(ck, 'utf8'))
    assert.is(checkpoint.complete, true)
    // Events a killed run handled after its last checkpoint are handled and counted again.
    assert.ok(checkpoint.totals.read >= COUNT, 'the totals over the runs count every event at least once')
  }
}

/** A table keyed by stream and seq (of type `seqType`) holding COUNT items made by `item`. */
async function seedTable(table: string, seqType: 'N' | 'B', item: (i: number) => Record<string, unknown>) {
  const { client, doc, destroy } = dynamoClients(dynamo.endpoint)
  try {
    await createTable(client, table, { partition: ['stream', 'S'], sort: ['seq', seqType] })
    const items = Array.from({ length: COUNT }, (_, i) => item(i))
    for (let i = 0; i < items.length; i += 25) {
      await doc.send(new BatchWriteCommand({ RequestItems: { [table]: items.slice(i, i + 25).map((Item) => ({ PutRequest: { Item } })) } }))
    }
  } finally {
    destroy()
  }
}

test('DynamoDB: a parallel scan killed and resumed writes exactly the output of a clean run', async () => {
  await seedTable('events', 'N', (i) => event(i))
  await killAndResumeAll(`dynamo:events?endpoint=${encodeURIComponent(dynamo.endpoint)}&region=us-east-1&parallelism=3&pageSize=25`, 'dynamo', 'cursor')
})

test('DynamoDB: a scan of a table with a binary (B) sort key resumes from its checkpoint too', async () => {
  await seedTable('binary', 'B', (i) => {
    const seq = Buffer.alloc(4)
    seq.writeUInt32BE(Math.floor(i / 40))
    return { ...event(i), seq: new Uint8Array(seq) }
  })
  await killAndResumeAll(`dynamo:binary?endpoint=${encodeURIComponent(dynamo.endpoint)}&region=us-east-1&parallelism=2&pageSize=25`, 'dynamo-binary', 'cursor')
})

test('OpenSearch: a sliced read killed and resumed writes exactly the output of a clean run', async () => {
  const client = new Client({ node: opensearch.url })
  try {
    await client.indices.create({ index: 'events', body: { mappings: { properties: { id: { type: 'keyword' }, time: { type: 'date' } } } } as never })
    for (let i = 0; i < COUNT; i += 500) {
      const body = Array.from({ length: Math.min(500, COUNT - i) }, (_, j) => event(i + j)).flatMap((e) => [{ index: { _id: e.id } }, e])
      const response = await client.bulk({ index: 'events', body, refresh: 'true' })
      assert.not.ok(response.body.errors)
    }
  } finally {
    await client.close()
  }
  await killAndResumeAll(`opensearch:${opensearch.url}/events?sort=time,id&slices=2&page-size=50`, 'opensearch', 'sort')
})

test.run()
