// `s3://bucket/prefix` through the registry against s3rver: shares (3 planned, each run, union = all,
// disjoint), an inventory manifest and `keys=` reading the same events as the listing, and a
// checkpointed hydrate() resumed mid-object and between objects.
import { gzipSync } from 'node:zlib'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { hydrate } from '../../lib/hydrate.js'
import { jsonPlugin } from '../../lib/json/plugin.js'
import { Registry } from '../../lib/registry.js'
import { s3Plugin } from '../../lib/s3/index.js'
import { sharesOf } from '../../lib/share.js'
import type { Source } from '../../lib/types.js'
import { all, factoryContext, tempDir } from '../helpers.js'
import { S3_TEST_CREDENTIALS, startS3TestServer, type S3TestServer } from '../servers/s3.js'

const test = suite('s3:// source through the registry')
let s3: S3TestServer
let client: S3Client
const registry = new Registry().register(jsonPlugin).register(s3Plugin)
const env = () => ({ AWS_ACCESS_KEY_ID: S3_TEST_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: S3_TEST_CREDENTIALS.secretAccessKey, AWS_REGION: 'us-east-1', AWS_ENDPOINT_URL_S3: s3.endpoint })
const put = (key: string, body: string | Buffer, bucket = 'events') => client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }))
const N = 30
const key = (i: number) => (i % 3 === 0 ? `p/another_event_${String(i).padStart(3, '0')}.event` : `p/event_1_${String(i).padStart(3, '0')}.event`)

test.before(async () => {
  s3 = await startS3TestServer()
  client = s3.client()
  await s3.createBucket('events')
  await s3.createBucket('inventory')
  await Promise.all(Array.from({ length: N }, (_, i) => put(key(i), JSON.stringify({ id: i }))))
  await put('p/zz-batch.ndjson', Array.from({ length: 5 }, (_, j) => JSON.stringify({ id: 100 + j })).join('\n') + '\n')
  // An inventory in another bucket: two gzip CSV files (keys URL-encoded, as S3 Inventory writes them).
  const keys = [...Array.from({ length: N }, (_, i) => key(i)).sort(), 'p/zz-batch.ndjson']
  const row = (k: string) => `"events","${encodeURIComponent(k).replace(/%2F/g, '/')}","10","2026-01-01T00:00:00.000Z","STANDARD"`
  await put('inv/data/1.csv.gz', gzipSync(keys.slice(0, 12).map(row).join('\n') + '\n'), 'inventory')
  await put('inv/data/2.csv.gz', gzipSync(keys.slice(12).map(row).join('\n') + '\n'), 'inventory')
  await put(
    'inv/manifest.json',
    JSON.stringify({ sourceBucket: 'events', destinationBucket: 'arn:aws:s3:::inventory', fileFormat: 'CSV', fileSchema: 'Bucket, Key, Size, LastModifiedDate, StorageClass', files: [{ key: 'inv/data/1.csv.gz', size: 100 }, { key: 'inv/data/2.csv.gz', size: 150 }] }),
    'inventory',
  )
})
test.after(async () => {
  await s3.close()
})

const idsOf = async (source: Source) => (await all(source as AsyncIterable<Record<string, unknown>>)).map((e) => e.id as number)
const listing = async () => idsOf(await registry.createSource('s3://events/p/', factoryContext({ env: env() })))

test('s3://bucket/prefix reads the listing through the plugin, with AWS_ENDPOINT_URL_S3 and ?concurrency=', async () => {
  const ids = await idsOf(await registry.createSource('s3://events/p/?concurrency=3&pageSize=4', factoryContext({ env: env() })))
  assert.is(ids.length, N + 5)
  assert.equal(ids.slice(-5), [100, 101, 102, 103, 104])
})

test('3 planned shares each read a key range; together every event once', async () => {
  const uri = 's3://events/p/?pageSize=7'
  const parts = await registry.planShares(uri, 3, factoryContext({ env: env() }))
  assert.is(parts.length, 3)
  const shares = sharesOf(uri, parts)
  const got = await Promise.all(shares.map(async (share) => idsOf(await registry.createSource(uri, factoryContext({ env: env(), share })))))
  for (const ids of got) assert.ok(ids.length > 0, JSON.stringify(parts))
  const union = got.flat()
  assert.is(new Set(union).size, union.length, 'disjoint')
  assert.equal([...union].sort((a, b) => a - b), (await idsOf(await registry.createSource(uri, factoryContext({ env: env() })))).sort((a, b) => a - b))
  // More shares than objects: the extra ones are empty.
  const many = await registry.planShares('s3://events/p/zz', 3, factoryContext({ env: env() }))
  const counts = await Promise.all(sharesOf('s3://events/p/zz', many).map(async (share) => (await idsOf(await registry.createSource('s3://events/p/zz', factoryContext({ env: env(), share })))).length))
  assert.equal(counts, [5, 0, 0])
})

test('?manifest= (an S3 Inventory CSV) reads the same events as the listing; its shares split the data files', async () => {
  const whole = await idsOf(await registry.createSource('s3://events/p/', factoryContext({ env: env() })))
  const uri = 's3://events/p/?manifest=s3://inventory/inv/manifest.json'
  assert.equal(await idsOf(await registry.createSource(uri, factoryContext({ env: env() }))), whole)
  const shares = sharesOf(uri, await registry.planShares(uri, 2, factoryContext({ env: env() })))
  const got = await Promise.all(shares.map(async (share) => idsOf(await registry.createSource(uri, factoryContext({ env: env(), share })))))
  assert.equal(got.flat(), whole)
  assert.ok(got[0]!.length > 0 && got[1]!.length > 0)
})

test('?keys=<source URI> takes the keys from another source (an NDJSON file of { "key" }) and reads the same events', async () => {
  const dir = await tempDir()
  try {
    const keys = [...Array.from({ length: N }, (_, i) => key(i)).sort(), 'p/zz-batch.ndjson']
    await dir.file('keys.ndjson', keys.map((k) => JSON.stringify({ key: k })).join('\n') + '\n')
    await dir.file('named.ndjson', keys.map((k) => JSON.stringify({ object: { name: k } })).join('\n') + '\nnot json\n')
    const base = factoryContext({ env: env(), cwd: dir.dir })
    const context = { ...base, createSource: (uri: string) => registry.createSource(uri, { ...base }) }
    const whole = await idsOf(await registry.createSource('s3://events/p/', factoryContext({ env: env() })))
    assert.equal(await idsOf(await registry.createSource(`s3://events/p/?keys=${encodeURIComponent('json:keys.ndjson')}`, context)), whole)
    const named = await registry.createSource('s3://events/p/?keys=json:named.ndjson&keyField=object.name', context)
    assert.equal(await idsOf(named), whole)
    assert.is(named.stats!.failed, 1, 'the key source\'s bad line is a failure of this source')
  } finally {
    await dir.cleanup()
  }
})

test('the built-in s3: scheme through hydrate(): ?keys= gets its key source from the run, and a CLI-style run reads the listing', async () => {
  const dir = await tempDir()
  try {
    const keys = [...Array.from({ length: N }, (_, i) => key(i)).sort(), 'p/zz-batch.ndjson']
    await dir.file('keys.ndjson', keys.map((k) => JSON.stringify({ key: k })).join('\n') + '\n')
    const viaKeys = await hydrate({ source: 's3://events/p/?keys=json:keys.ndjson', sink: 'ndjson:by-keys.ndjson', cwd: dir.dir, env: env() })
    const viaList = await hydrate({ source: 's3://events/p/', sink: 'ndjson:by-list.ndjson', cwd: dir.dir, env: env() })
    assert.is(viaKeys.status, 'ok')
    assert.is(viaKeys.source.read, N + 5)
    assert.is(viaList.source.read, N + 5)
    const read = async (f: string) => (await readFile(path.join(dir.dir, f), 'utf8'))
    assert.is(await read('by-keys.ndjson'), await read('by-list.ndjson'))
  } finally {
    await dir.cleanup()
  }
})

test('hydrate() with a checkpoint resumes mid-object and between objects, reading exactly the rest', async () => {
  const dir = await tempDir()
  try {
    // The same transform every run (it is part of the checkpoint's identity): it stops the run, like
    // SIGTERM, once `budget` events have passed.
    let budget = Infinity
    let controller = new AbortController()
    const transform = (event: Record<string, unknown>) => {
      if (--budget === 0) controller.abort()
      return event
    }
    const run = (stopAfter = Infinity) => {
      budget = stopAfter
      controller = new AbortController()
      return hydrate({ source: 's3://events/p/', sink: `ndjson:${path.join(dir.dir, 'out.ndjson')}`, transform, signal: controller.signal, checkpoint: path.join(dir.dir, 'run.ckpt'), checkpointInterval: 0, plugins: [s3Plugin], env: env(), cwd: dir.dir })
    }
    const whole = await listing()
    // Stop after 7 events (between one-event objects), then inside zz-batch.ndjson, then run to the end.
    for (const stopAfter of [7, N - 7 + 2]) {
      const stopped = await run(stopAfter)
      assert.is(stopped.status, 'aborted')
    }
    const last = await run()
    assert.ok(last.status === 'ok', JSON.stringify(last))
    const written = (await readFile(path.join(dir.dir, 'out.ndjson'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l).id)
    assert.equal(written, whole)
  } finally {
    await dir.cleanup()
  }
})

test.run()
