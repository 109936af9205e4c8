// The S3 sink against s3rver (test/servers/s3.ts): what lands in the bucket, read back with
// ListObjectsV2 + GetObject + gunzip, is exactly the input, in order, rolled and partitioned as asked.
import { readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { gunzipSync } from 'node:zlib'
import { GetObjectCommand, ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { hydrate } from '../../lib/hydrate.js'
import { s3Plugin, toS3, type ToS3Options } from '../../lib/s3/index.js'
import { isOwnObject, objectKey, utcDate } from '../../lib/s3/sink-objects.js'
import { sinkContract } from '../contract.js'
import { assertCounts, ndjson, rejects, tempDir } from '../helpers.js'
import { S3_TEST_CREDENTIALS, startS3TestServer, type S3TestServer } from '../servers/s3.js'

const test = suite('S3 sink')
let s3: S3TestServer
let client: S3Client
let bucketCount = 0

test.before(async () => {
  s3 = await startS3TestServer()
  client = s3.client({ maxAttempts: 1 })
  await s3.createBucket('contract')
})
test.after(async () => {
  await s3.close()
})

/** A fresh bucket per test. */
async function bucket(): Promise<string> {
  const name = `lake-${++bucketCount}`
  await s3.createBucket(name)
  return name
}

const fast = { minDelayMs: 1, maxDelayMs: 5 }
const sinkOf = (options: Omit<ToS3Options, 'client'>) => toS3({ client, retry: fast, ...options })

/** Day `d` of December 2026, hour `h`. */
const at = (d: number, h = 12) => `2026-12-${String(d).padStart(2, '0')}T${String(h).padStart(2, '0')}:00:00Z`
const events = (n: number, f: (i: number) => Record<string, unknown> = () => ({})) =>
  Array.from({ length: n }, (_, i) => ({ id: `e${i}`, detail: { seq: i, note: 'x'.repeat(i % 7) }, ...f(i) }))

async function* from<T>(items: readonly T[], state?: { pulled: number }): AsyncGenerator<T> {
  for (const item of items) {
    if (state) state.pulled++
    yield item
  }
}

/** Every object under `prefix`: key, events, in key order. */
async function objects(name: string, prefix = ''): Promise<{ key: string; events: unknown[] }[]> {
  const out: { key: string; events: unknown[] }[] = []
  let token: string | undefined
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: name, Prefix: prefix, ...(token ? { ContinuationToken: token } : {}) }))
    for (const o of page.Contents ?? []) {
      const got = await client.send(new GetObjectCommand({ Bucket: name, Key: o.Key! }))
      const text = gunzipSync(await got.Body!.transformToByteArray()).toString('utf8')
      assert.ok(text.endsWith('\n'), `${o.Key} ends with a newline`)
      out.push({ key: o.Key!, events: text.slice(0, -1).split('\n').map((l) => JSON.parse(l) as unknown) })
    }
    token = page.IsTruncated ? page.NextContinuationToken : undefined
  } while (token)
  return out.sort((a, b) => (a.key < b.key ? -1 : 1))
}
const base = (key: string) => key.slice(key.lastIndexOf('/') + 1)
/** The events of every object, objects in the order of their names (part-<seq>), i.e. event order. */
const readBack = async (name: string, prefix = '') => (await objects(name, prefix)).sort((a, b) => (base(a.key) < base(b.key) ? -1 : 1)).flatMap((o) => o.events)

test('writes gzip NDJSON objects that read back as exactly the input, in order', async () => {
  const name = await bucket()
  const input = events(250, (i) => ({ ...(JSON.parse(`{"__proto__": {"kept": ${i}}}`) as object), text: 'é€😀\u2028' }))
  const result = await sinkOf({ bucket: name, prefix: 'exports/orders/' })(from(input))
  assertCounts(result)
  assert.is(result.written, 250)
  assert.equal(result.uri, `s3://${name}/exports/orders`)
  const stored = await objects(name)
  assert.equal(stored.map((o) => o.key), ['exports/orders/part-0000000000.ndjson.gz'])
  assert.equal(await readBack(name), JSON.parse(JSON.stringify(input)))
})

test('rolls a new object every maxEvents events; names sort in event order', async () => {
  const name = await bucket()
  const input = events(25)
  await sinkOf({ bucket: name, prefix: 'count', maxEvents: 10 })(from(input))
  const stored = await objects(name)
  assert.equal(stored.map((o) => [base(o.key), o.events.length]), [
    ['part-0000000000.ndjson.gz', 10],
    ['part-0000000001.ndjson.gz', 10],
    ['part-0000000002.ndjson.gz', 5],
  ])
  assert.equal(stored.flatMap((o) => o.events), input)
})

test('rolls by uncompressed bytes; an event larger than maxBytes is an object of its own', async () => {
  const name = await bucket()
  const input = [...events(12, () => ({ pad: 'p'.repeat(60) })), { id: 'big', pad: 'b'.repeat(1000) }, ...events(3)]
  const maxBytes = 400
  await sinkOf({ bucket: name, prefix: 'bytes', maxBytes })(from(input))
  const stored = await objects(name)
  for (const o of stored) {
    const bytes = o.events.reduce<number>((n, e) => n + Buffer.byteLength(JSON.stringify(e)) + 1, 0)
    assert.ok(bytes <= maxBytes || o.events.length === 1, `${o.key}: ${bytes} bytes in ${o.events.length} events`)
  }
  assert.ok(stored.length >= 4, `${stored.length} objects`)
  assert.ok(stored.some((o) => o.events.length === 1 && (o.events[0] as { id: string }).id === 'big'))
  assert.equal(stored.flatMap((o) => o.events), input)
})

test('partitions Hive-style by the UTC date of a time field; names sort in event order across partitions', async () => {
  const name = await bucket()
  const times = [at(5, 23), '2026-12-06T01:30:00+03:00', Date.parse(at(6, 8)), '2026-12-06', at(7, 0), '2026-12-07T10:00:00.123456Z', at(7, 1)]
  const input = times.map((time, i) => ({ id: `t${i}`, meta: { time } }))
  const result = await sinkOf({ bucket: name, prefix: 'p', partitionBy: 'meta.time', maxEvents: 2 })(from(input))
  assert.is(result.written, input.length)
  const stored = await objects(name)
  assert.equal(stored.map((o) => [o.key, o.events.length]), [
    ['p/dt=2026-12-05/part-0000000000.ndjson.gz', 2],
    ['p/dt=2026-12-06/part-0000000001.ndjson.gz', 2],
    ['p/dt=2026-12-07/part-0000000002.ndjson.gz', 2],
    ['p/dt=2026-12-07/part-0000000003.ndjson.gz', 1],
  ])
  assert.equal(stored.flatMap((o) => o.events), input)
  assert.is(utcDate('2026-12-06T23:30:00-01:00'), '2026-12-07')
  assert.is(utcDate('2026-12-06T10:00:00'), '2026-12-06', 'a time without an offset is UTC')
  assert.is(utcDate('06/12/2026'), undefined)
  assert.is(utcDate(Number.NaN), undefined)
})

test('an event without the time, or with no time there, fails with ERR_MAPPING naming the path; the rest is written', async () => {
  const name = await bucket()
  const input = [{ id: 1, time: at(1) }, { id: 2 }, { id: 3, time: 'yesterday' }, { id: 4, time: { at: 1 } }, { id: 5, time: at(1) }]
  const failed: unknown[] = []
  const result = await sinkOf({ bucket: name, partitionBy: 'time' })(from(input), { onFailure: (f) => failed.push([f.code, f.message]) })
  assertCounts(result)
  assert.is(result.written, 2)
  assert.is(result.failed, 3)
  assert.equal(failed.map((f) => (f as string[])[0]), ['ERR_MAPPING', 'ERR_MAPPING', 'ERR_MAPPING'])
  for (const f of failed) assert.match((f as string[])[1]!, /`time`/)
  assert.equal(await readBack(name), [input[0], input[4]])
  assert.equal((await objects(name)).map((o) => o.key), ['dt=2026-12-01/part-0000000000.ndjson.gz'])
})

test('a dry run lists the objects it would write, with their event counts, and writes nothing', async () => {
  const name = await bucket()
  const input = events(23, (i) => ({ time: at(i < 15 ? 1 : 2) }))
  const settled: string[] = []
  const result = await sinkOf({ bucket: name, prefix: 'dry', partitionBy: 'time', maxEvents: 10 })(from(input), {
    dryRun: true,
    onSettled: (evs, outcomes) => void settled.push(...(outcomes ?? []).map((o) => o!.status)),
  })
  assert.is(result.dryRun, true)
  assert.is(result.written, 23)
  assert.equal(
    result.previews.map((p) => [(p as { key: string }).key, (p as { events: number }).events]),
    [
      ['dry/dt=2026-12-01/part-0000000000.ndjson.gz', 10],
      ['dry/dt=2026-12-01/part-0000000001.ndjson.gz', 5],
      ['dry/dt=2026-12-02/part-0000000002.ndjson.gz', 8],
    ],
  )
  assert.is(settled.length, 23)
  assert.equal(await objects(name), [])
})

test('an event settles (for the checkpoint) only once its object is stored, with the state a resume needs', async () => {
  const name = await bucket()
  const seen: { stored: number; states: unknown[] }[] = []
  await sinkOf({ bucket: name, prefix: 's', maxEvents: 3 })(from(events(4)), {
    onSettled: async (_, outcomes) => void seen.push({ stored: (await objects(name)).length, states: (outcomes ?? []).map((o) => o?.state) }),
  })
  const key0 = objectKey({ bucket: name, prefix: 's' }, 0, undefined)
  const key1 = objectKey({ bucket: name, prefix: 's' }, 1, undefined)
  assert.equal(seen, [
    { stored: 1, states: [{ seq: 0, lines: 1, key: key0 }, { seq: 0, lines: 2, key: key0 }, { seq: 1, lines: 0 }] },
    { stored: 2, states: [{ seq: 1, lines: 1, key: key1 }] },
  ])
})

test('503 SlowDown and a dropped connection on PutObject are retried and counted; nothing is lost or doubled', async () => {
  const name = await bucket()
  const input = events(30)
  s3.failNext('PUT', 503, 'SlowDown', 2)
  const first = await sinkOf({ bucket: name, prefix: 'slow', maxEvents: 10 })(from(input))
  assert.is(first.retries.SlowDown, 2)
  assert.is(first.written, 30)
  s3.failNext('PUT', 500, 'InternalError', 1)
  s3.dropNextResponse('PUT')
  const second = await sinkOf({ bucket: name, prefix: 'drop', maxEvents: 10 })(from(input))
  assert.is(Object.values(second.retries).reduce((a, b) => a + b, 0), 2, JSON.stringify(second.retries))
  assert.is(second.written, 30)
  assert.equal(await readBack(name, 'slow/'), input)
  assert.equal(await readBack(name, 'drop/'), input)
})

test('a PutObject that keeps failing stops the run; its events are not counted as written', async () => {
  const name = await bucket()
  s3.failNext('PUT', 503, 'SlowDown', 100)
  const tally = { received: 0, written: 0, skipped: 0, failed: 0, retries: {}, skippedBy: {} }
  await rejects(toS3({ client, bucket: name, retry: { ...fast, attempts: 3 } })(from(events(5)), { tally }), 'ERR_CONNECTION', /PutObject .*SlowDown/)
  s3.failNext('PUT', 503, 'SlowDown', 0)
  assert.equal([tally.received, tally.written, tally.failed], [5, 0, 0])
})

test('a missing bucket and a refused one fail before any event is read', async () => {
  const state = { pulled: 0 }
  await rejects(sinkOf({ bucket: 'no-such-bucket' })(from(events(3), state)), 'ERR_TARGET_NOT_FOUND', /no-such-bucket/)
  const denied = await bucket()
  s3.denyBucket(denied)
  const error = await rejects(sinkOf({ bucket: denied, prefix: 'x' })(from(events(3), state)), 'ERR_AUTH', /s3:PutObject on arn:aws:s3:::lake-\d+\/x\/\*/)
  assert.not.match(error.message, /checkpoint/)
  assert.is(state.pulled, 0)
})

test('options are checked when the sink is made', async () => {
  await rejects(Promise.resolve().then(() => toS3({ client, bucket: 'b', maxEvents: 0 })), 'ERR_INVALID_OPTION', /maxEvents/)
  await rejects(Promise.resolve().then(() => toS3({ client, bucket: '' })), 'ERR_INVALID_OPTION', /bucket/)
  await rejects(Promise.resolve().then(() => toS3({ client, bucket: 'b', partitionBy: 'a..b' })), 'ERR_INVALID_OPTION')
  await rejects(Promise.resolve().then(() => toS3({ client, bucket: 'b', resume: { seq: -1 } })), 'ERR_CHECKPOINT_MISMATCH')
})

sinkContract(test, 'toS3', () => sinkOf({ bucket: 'contract', prefix: `c${Math.random()}` }), events(5))

// hydrate() with the URI and a checkpoint file: stop mid-way, resume, and compare the bucket.
const env = { AWS_ACCESS_KEY_ID: S3_TEST_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: S3_TEST_CREDENTIALS.secretAccessKey, AWS_REGION: 'us-east-1' }
const uriOf = (name: string, params: string) => `s3://${name}/runs/r1?endpoint=${encodeURIComponent(s3.endpoint)}&${params}`

async function runOnce(dir: string, sink: string, { stopAt, extra = {} }: { stopAt?: number; extra?: Record<string, unknown> } = {}) {
  const controller = new AbortController()
  return hydrate({
    source: 'json:in.ndjson',
    sink,
    checkpoint: 'run.ckpt',
    plugins: [s3Plugin],
    cwd: dir,
    env,
    signal: controller.signal,
    transform: (e: { id: string }) => {
      if (stopAt !== undefined && e.id === `e${stopAt}`) controller.abort()
      return e
    },
    ...extra,
  } as Parameters<typeof hydrate>[0])
}

test('a run stopped mid-way and resumed leaves exactly the input once, the object it was filling written again under its name', async () => {
  const name = await bucket()
  const input = events(95, (i) => ({ time: at(1 + Math.floor(i / 40)) }))
  const { dir, cleanup } = await tempDir('eh-s3-sink-')
  try {
    await writeFile(path.join(dir, 'in.ndjson'), ndjson(input))
    const sink = uriOf(name, 'maxEvents=10&partitionBy=time')
    const first = await runOnce(dir, sink, { stopAt: 33 })
    assert.is(first.status, 'aborted')
    const afterStop = await objects(name)
    assert.equal(afterStop.map((o) => o.events.length), [10, 10, 10, 4], 'the object being filled is stored with what was read')
    const stopped = await readFile(path.join(dir, 'run.ckpt'), 'utf8')

    const second = await runOnce(dir, sink)
    assert.is(second.status, 'ok', JSON.stringify(second.error))
    const done = await objects(name)
    assert.equal(await readBack(name), input)
    for (const o of afterStop) assert.ok(done.some((d) => d.key === o.key), `${o.key} is still there`)
    assert.is(done.find((d) => d.key === afterStop[3]!.key)!.events.length, 10, 'the short object was filled up under its own name')
    assert.equal(done.map((o) => base(o.key)), done.map((_, i) => `part-${String(i).padStart(10, '0')}.ndjson.gz`))

    // As after a SIGKILL: objects written past the checkpoint's mark. Resuming from the earlier
    // checkpoint writes the same objects under the same names again: nothing doubled.
    await writeFile(path.join(dir, 'run.ckpt'), stopped)
    const third = await runOnce(dir, sink)
    assert.is(third.status, 'ok')
    assert.equal(await objects(name), done)
  } finally {
    await cleanup()
  }
})

test('a resume past an event that failed without a dead-letter file rewrites the object around it exactly', async () => {
  const name = await bucket()
  const input = events(35, (i) => (i === 14 ? {} : { time: at(3) }))
  const { dir, cleanup } = await tempDir('eh-s3-sink-')
  try {
    await writeFile(path.join(dir, 'in.ndjson'), ndjson(input))
    const sink = uriOf(name, 'maxEvents=10&partitionBy=time')
    const first = await runOnce(dir, sink)
    assert.is(first.status, 'partial')
    const before = await objects(name)
    const again = await runOnce(dir, sink)
    assert.is(again.status, 'partial')
    assert.equal(await objects(name), before)
    assert.equal(await readBack(name), input.filter((_, i) => i !== 14))
  } finally {
    await cleanup()
  }
})

test('s3:// URIs: unknown parameters and bad sizes fail before the SDK loads; ?maxBytes= takes units', async () => {
  const name = await bucket()
  const { dir, cleanup } = await tempDir('eh-s3-sink-')
  try {
    await writeFile(path.join(dir, 'in.ndjson'), ndjson(events(40, () => ({ pad: 'p'.repeat(100) }))))
    await rejects(runOnce(dir, uriOf(name, 'maxEvent=10'), { extra: { checkpoint: undefined } }), 'ERR_INVALID_URI', /unknown parameter `maxEvent`/)
    await rejects(runOnce(dir, uriOf(name, 'maxBytes=64XB'), { extra: { checkpoint: undefined } }), 'ERR_INVALID_URI', /maxBytes/)
    const ok = await runOnce(dir, uriOf(name, 'maxBytes=1KB'), { extra: { checkpoint: undefined } })
    assert.is(ok.status, 'ok')
    const stored = await objects(name)
    assert.ok(stored.length >= 5, `${stored.length} objects of at most 1 KiB`)
  } finally {
    await cleanup()
  }
})

test('a fresh run into a prefix holding objects of its names is refused before any event; others\' objects, a resume and ?overwrite=true are not', async () => {
  const name = await bucket()
  const first = await sinkOf({ bucket: name, prefix: 'p', maxEvents: 2, partitionBy: 'time' })(from(events(3, () => ({ time: at(6) }))))
  assert.is(first.written, 3)
  const state = { pulled: 0 }
  const error = await rejects(sinkOf({ bucket: name, prefix: 'p/' })(from(events(1), state)), 'ERR_TARGET_NOT_EMPTY', /p\/dt=2026-12-06\/part-0000000000\.ndjson\.gz/)
  assert.match(error.message, /overwrite=true/)
  assert.is(state.pulled, 0)
  // Another writer's names and another prefix do not count.
  assert.is((await sinkOf({ bucket: name, prefix: 'p', writer: 'share1' })(from(events(2)))).written, 2)
  await rejects(sinkOf({ bucket: name, prefix: 'p/dt=2026-12-06' })(from(events(2))), 'ERR_TARGET_NOT_EMPTY')
  assert.is((await sinkOf({ bucket: name, prefix: 'pp' })(from(events(2)))).written, 2)
  // A resume goes on in place; overwrite writes over the names.
  assert.is((await sinkOf({ bucket: name, prefix: 'p', partitionBy: 'time', maxEvents: 2, resume: { seq: 2, lines: 0 } })(from(events(1, () => ({ time: at(7) }))))).written, 1)
  assert.is((await sinkOf({ bucket: name, prefix: 'p', overwrite: true })(from(events(1)))).written, 1)
  // Through the URI: ?overwrite= is a flag, and the refusal is a configuration error (exit 2).
  const { dir, cleanup } = await tempDir('eh-s3-sink-')
  try {
    await writeFile(path.join(dir, 'in.ndjson'), ndjson(events(3)))
    const uri = `s3://${name}/p?endpoint=${encodeURIComponent(s3.endpoint)}`
    await rejects(runOnce(dir, uri, { extra: { checkpoint: undefined } }), 'ERR_TARGET_NOT_EMPTY')
    assert.is((await runOnce(dir, `${uri}&overwrite=true`, { extra: { checkpoint: undefined } })).sink.written, 3)
  } finally {
    await cleanup()
  }
})

test('two fresh runs started at once into one empty prefix: the second to store a name stops, and no object of the first is overwritten', async () => {
  const name = await bucket()
  // Both are past the check of the prefix (empty then) before either stores an object.
  let release!: () => void
  const gate = new Promise<void>((resolve) => (release = resolve))
  const started: string[] = []
  async function* gated(tag: string, items: Record<string, unknown>[]) {
    started.push(tag)
    await gate
    yield* items
  }
  const a = events(5, (i) => ({ run: 'a', i }))
  const b = events(5, (i) => ({ run: 'b', i }))
  const runA = sinkOf({ bucket: name, prefix: 'p', maxEvents: 2 })(gated('a', a))
  const runB = sinkOf({ bucket: name, prefix: 'p', maxEvents: 2 })(gated('b', b))
  while (started.length < 2) await new Promise((resolve) => setTimeout(resolve, 5))
  release()
  const [resultA, resultB] = await Promise.allSettled([runA, runB])
  const outcomes = [resultA, resultB]
  const won = outcomes.findIndex((r) => r.status === 'fulfilled')
  assert.ok(won >= 0, 'one run wrote its objects')
  const lost = outcomes[1 - won]!
  assert.is(lost.status, 'rejected', 'the other stopped')
  const error = (lost as PromiseRejectedResult).reason as { code?: string; message: string }
  assert.is(error.code, 'ERR_TARGET_NOT_EMPTY')
  assert.match(error.message, /stored by another writer/)
  // Every object holds the winner's events, each once, in order: nothing of it was overwritten.
  assert.equal(await readBack(name, 'p/'), won === 0 ? a : b)
})

test('events that reach the sink unchanged from NDJSON are stored as the lines they were read as', async () => {
  const name = await bucket()
  const lines = Array.from({ length: 12 }, (_, i) => `{"id":"e${i}","n":1234567890123456789${i % 10},"x":${i}.0}`)
  const { dir, cleanup } = await tempDir('eh-s3-sink-')
  try {
    await writeFile(path.join(dir, 'in.ndjson'), lines.join('\n') + '\n')
    const report = await runOnce(dir, uriOf(name, 'maxEvents=5'), { extra: { checkpoint: undefined, transform: undefined } })
    assert.is(report.status, 'ok')
    const stored: string[] = []
    for (const o of (await objects(name)).map((x) => x.key)) {
      const got = await client.send(new GetObjectCommand({ Bucket: name, Key: o }))
      stored.push(...gunzipSync(await got.Body!.transformToByteArray()).toString('utf8').split('\n').slice(0, -1))
    }
    assert.equal(stored, lines)
  } finally {
    await cleanup()
  }
})

test('sorted with --order-by, events are stored as the bytes they were read as, in key order, not parsed again', async () => {
  const name = await bucket()
  // Shuffled x, numbers past double precision and `1.0` spellings that a parse and JSON.stringify would change.
  const xs = [7, 2, 9, 0, 4, 11, 1, 8, 3, 10, 5, 6]
  const lines = xs.map((x) => `{"id":"e${x}","n":1234567890123456789${x % 10},"x":${x}.0}`)
  const { dir, cleanup } = await tempDir('eh-s3-sink-')
  try {
    await writeFile(path.join(dir, 'in.ndjson'), lines.join('\n') + '\n')
    const report = await runOnce(dir, uriOf(name, 'maxEvents=5'), { extra: { checkpoint: undefined, transform: undefined, orderBy: 'x', tempDir: dir } })
    assert.is(report.status, 'ok')
    const stored: string[] = []
    for (const o of (await objects(name)).map((x) => x.key)) {
      const got = await client.send(new GetObjectCommand({ Bucket: name, Key: o }))
      stored.push(...gunzipSync(await got.Body!.transformToByteArray()).toString('utf8').split('\n').slice(0, -1))
    }
    assert.equal(stored, [...xs].sort((a, b) => a - b).map((x) => lines[xs.indexOf(x)]))
  } finally {
    await cleanup()
  }
})

test('isOwnObject() knows the names of one writer in one prefix', () => {
  const place = { bucket: 'b', prefix: 'a/b' }
  assert.ok(isOwnObject(place, 'a/b/part-0000000001.ndjson.gz'))
  assert.ok(isOwnObject(place, 'a/b/dt=2026-12-06/part-0000000001.ndjson.gz'))
  assert.not.ok(isOwnObject(place, 'a/b/part-share1-0000000001.ndjson.gz'))
  assert.not.ok(isOwnObject(place, 'a/b/x/part-0000000001.ndjson.gz'))
  assert.not.ok(isOwnObject(place, 'a/bc/part-0000000001.ndjson.gz'))
  assert.not.ok(isOwnObject(place, 'a/b/part-1.ndjson.gz'))
  assert.ok(isOwnObject({ ...place, writer: 'w.1' }, 'a/b/part-w.1-0000000001.ndjson.gz'))
  assert.not.ok(isOwnObject({ ...place, writer: 'w.1' }, 'a/b/part-wx1-0000000001.ndjson.gz'))
  assert.ok(isOwnObject({ bucket: 'b', prefix: '' }, 'part-0000000001.ndjson.gz'))
})

test('the written objects are named as objectKey() says', () => {
  assert.is(objectKey({ bucket: 'b', prefix: '', writer: 'share1' }, 7, '2026-12-06'), 'dt=2026-12-06/part-share1-0000000007.ndjson.gz')
})

test.run()
