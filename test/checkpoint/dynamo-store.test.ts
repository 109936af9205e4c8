import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { hostname, tmpdir } from 'node:os'
import path from 'node:path'
import { GetCommand, PutCommand } from '@aws-sdk/lib-dynamodb'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { dynamoCheckpointStore } from '../../lib/dynamo/index.js'
import { hydrate } from '../../lib/hydrate.js'
import { openStoreSession } from '../../lib/checkpoint/index.js'
import type { CheckpointStore } from '../../lib/checkpoint/index.js'
import { createTable, dynamoEnv, startDynamoTestbed, type DynamoTestbed } from '../servers/dynalite.js'

const test = suite('checkpoints in DynamoDB: compare-and-set, leases, resume')

let bed: DynamoTestbed
let dir: string
let env: Record<string, string | undefined>
const identity = { source: 'json:events.ndjson', filter: '[]', sink: 'ndjson:out.ndjson' }

test.before(async () => {
  bed = await startDynamoTestbed()
  // Any partition key name will do, as long as it is a string.
  await createTable(bed.raw, 'ckpt', { partition: ['runId', 'S'] })
  await createTable(bed.raw, 'ckpt-sorted', { partition: ['pk', 'S'], sort: ['sk', 'S'] })
  await createTable(bed.raw, 'ckpt-numeric', { partition: ['n', 'N'] })
  dir = await mkdtemp(path.join(tmpdir(), 'eh-dynamo-ckpt-'))
  const lines = Array.from({ length: 3000 }, (_, i) => JSON.stringify({ id: `e${i}`, 'detail-type': 'T', detail: { n: i } }))
  await writeFile(path.join(dir, 'events.ndjson'), lines.join('\n') + '\n')
  env = dynamoEnv(bed.server.endpoint)
})

test.after(async () => {
  await bed.close()
  await rm(dir, { recursive: true, force: true })
})

const store = (tableName: string, id: string) => dynamoCheckpointStore({ client: bed.doc, tableName, id })

test('the store: create once, then only on the version it last saw', async () => {
  const s = store('ckpt', 'cas-1')
  assert.is(await s.load(), undefined)
  const v1 = await s.save('{"a":1}', undefined)
  assert.type(v1, 'string')
  assert.is(await s.save('{"a":"again"}', undefined), undefined, 'a second create fails')
  const v2 = await s.save('{"a":2}', v1)
  assert.ok(v2 && v2 !== v1)
  assert.is(await s.save('{"a":"stale"}', v1), undefined, 'a stale version writes nothing')
  assert.equal(await s.load(), { text: '{"a":2}', version: v2 })
  // Two writers on one version: exactly one wins.
  const results = await Promise.all([s.save('{"w":1}', v2), s.save('{"w":2}', v2), s.save('{"w":3}', v2)])
  assert.is(results.filter((r) => r !== undefined).length, 1)
  const item = await bed.doc.send(new GetCommand({ TableName: 'ckpt', Key: { runId: 'cas-1' } }))
  assert.is(item.Item?.rev, 3)
})

test('the store: a sort key gets a fixed value; a non-string key, a missing table and an unreachable endpoint are clear errors', async () => {
  const sorted = store('ckpt-sorted', 'run-x')
  const v = await sorted.save('{}', undefined)
  assert.equal(await sorted.load(), { text: '{}', version: v })
  const numeric = await store('ckpt-numeric', 'run').load().then(
    () => undefined,
    (e: { code?: string; message?: string }) => e,
  )
  assert.is(numeric?.code, 'ERR_TARGET_SCHEMA')
  assert.match(numeric!.message!, /partition key `n` is of type N/)
  const missing = await store('nope', 'run').load().then(
    () => undefined,
    (e: { code?: string; message?: string }) => e,
  )
  assert.is(missing?.code, 'ERR_TARGET_NOT_FOUND')
  assert.match(missing!.message!, /nope/)
  const started = Date.now()
  const down = await hydrate({
    source: 'json:events.ndjson',
    sink: 'ndjson:never.ndjson',
    checkpoint: 'dynamo:ckpt/run-down?endpoint=http://127.0.0.1:9',
    retryAttempts: 2,
    retryMaxDelay: 200,
    cwd: dir,
    env,
  }).then(
    () => undefined,
    (e: { code?: string; message?: string }) => e,
  )
  assert.is(down?.code, 'ERR_CONNECTION')
  assert.match(down!.message!, /checkpoint dynamo:ckpt\/run-down/, down!.message)
  assert.ok(Date.now() - started < 10_000)
  assert.is(await readFile(path.join(dir, 'never.ndjson')).catch(() => undefined), undefined, 'nothing was written')
})

test('checkpoint URIs: a typo is an unknown scheme (never a file named after it), and no password leaks', async () => {
  const attempt = (checkpoint: string) =>
    hydrate({ source: 'json:events.ndjson', sink: 'ndjson:never.ndjson', checkpoint, retryAttempts: 1, cwd: dir, env }).then(
      () => assert.unreachable(`${checkpoint} should fail`) as never,
      (e: { code?: string; message: string }) => e,
    )
  const typo = await attempt('dynamodb2:ckpt/run')
  assert.is(typo.code, 'ERR_UNKNOWN_SCHEME')
  assert.match(typo.message, /known checkpoint store schemes: dynamo:, dynamodb:, s3:/)
  for (const uri of ['dynamo:ckpt/run?endpoint=http://user:hunter2@127.0.0.1:9', 's3://b/k?endpoint=http://user:hunter2@127.0.0.1:9', 's3://user:hunter2@b/k', 'dynamo:ckpt/run?password=hunter2', 'ftp://user:hunter2@x/y']) {
    const error = await attempt(uri)
    assert.not.match(error.message, /hunter2/, `${uri}: ${error.message}`)
  }
  assert.is(await readFile(path.join(dir, 'never.ndjson')).catch(() => undefined), undefined, 'nothing was written')
})

test('hydrate() with a DynamoDB checkpoint: stopped, resumed, complete, then nothing to do', async () => {
  const controller = new AbortController()
  let seen = 0
  const options = {
    source: 'json:events.ndjson',
    sink: 'ndjson:resumed.ndjson',
    checkpoint: 'dynamo:ckpt/resume-1',
    // The same function both times (it is part of the run's identity); it stops the first run.
    filter: function stopAt1000() {
      if (++seen === 1000) controller.abort()
      return true
    },
    batchSize: 100,
    cwd: dir,
    env,
  }
  const first = await hydrate({ ...options, signal: controller.signal })
  assert.is(first.status, 'aborted')
  assert.is(first.checkpoint?.complete, false)
  assert.is(first.checkpoint?.file, 'dynamo:ckpt/resume-1')
  const second = await hydrate(options)
  assert.is(second.status, 'ok')
  assert.is(second.checkpoint?.complete, true)
  assert.is(second.checkpoint?.totals.read, 3000)
  const out = (await readFile(path.join(dir, 'resumed.ndjson'), 'utf8')).trim().split('\n')
  assert.equal(
    out.map((l) => JSON.parse(l).id),
    Array.from({ length: 3000 }, (_, i) => `e${i}`),
    'every event once, in order',
  )
  const third = await hydrate(options)
  assert.is(third.checkpoint?.alreadyComplete, true)
  // The lease was released at the end of each run.
  const item = await bed.doc.send(new GetCommand({ TableName: 'ckpt', Key: { runId: 'resume-1' } }))
  assert.is(JSON.parse(item.Item!.checkpoint).lease, undefined)
})

async function leaseError(run: Promise<unknown>): Promise<{ code?: string; message?: string } | undefined> {
  return run.then(
    () => undefined,
    (e: { code?: string; message?: string }) => e,
  )
}

test('two workers on one checkpoint: the second is refused with who holds it and until when, and writes nothing', async () => {
  const s = store('ckpt', 'two-workers')
  const first = await openStoreSession(s, identity, { leaseMs: 30_000 })
  const second = await leaseError(openStoreSession(store('ckpt', 'two-workers'), identity))
  assert.is(second?.code, 'ERR_CHECKPOINT_LOCKED')
  assert.match(second!.message!, new RegExp(`process ${process.pid} on ${hostname()}`))
  assert.match(second!.message!, /until \d{4}-\d\d-\d\dT/)
  await first.release()
  const third = await openStoreSession(store('ckpt', 'two-workers'), identity)
  await third.release()

  // Through hydrate(): the second run fails before its sink is opened.
  const slow = { source: 'json:events.ndjson', filter: { 'detail-type': ['T'] }, cwd: dir, env, rate: 3000 }
  const a = hydrate({ ...slow, sink: 'ndjson:a.ndjson', checkpoint: 'dynamo:ckpt/two-runs' })
  await new Promise((r) => setTimeout(r, 300))
  const b = await leaseError(hydrate({ ...slow, sink: 'ndjson:a.ndjson', checkpoint: 'dynamo:ckpt/two-runs' }))
  assert.is(b?.code, 'ERR_CHECKPOINT_LOCKED')
  const report = await a
  assert.is(report.status, 'ok')
  const lines = (await readFile(path.join(dir, 'a.ndjson'), 'utf8')).trim().split('\n')
  assert.is(lines.length, 3000, 'nothing written twice')
})

test('a lease from another machine holds until it expires; one left by a dead process here is taken over at once', async () => {
  const put = (id: string, lease: Record<string, unknown>) =>
    bed.doc.send(
      new PutCommand({
        TableName: 'ckpt',
        Item: { runId: id, rev: 7, checkpoint: JSON.stringify({ version: 1, identity, complete: false, lease: { token: 't', since: new Date().toISOString(), ...lease } }) },
      }),
    )
  await put('other-host', { host: 'build-box-7', pid: 42, expiresAt: new Date(Date.now() + 60_000).toISOString() })
  const held = await leaseError(openStoreSession(store('ckpt', 'other-host'), identity))
  assert.is(held?.code, 'ERR_CHECKPOINT_LOCKED')
  assert.match(held!.message!, /process 42 on build-box-7/)

  await put('expired', { host: 'build-box-7', pid: 42, expiresAt: new Date(Date.now() - 1000).toISOString() })
  const taken = await openStoreSession(store('ckpt', 'expired'), identity)
  await taken.release()

  await put('dead-here', { host: hostname(), pid: 2 ** 22 + 12345, expiresAt: new Date(Date.now() + 60_000).toISOString() })
  const takenOver = await openStoreSession(store('ckpt', 'dead-here'), identity)
  await takenOver.release()

  // This very pid, but no session of this process holds it: a process that restarted with the same
  // pid (a Lambda sandbox whose runtime was restarted) left it behind.
  await put('same-pid', { host: hostname(), pid: process.pid, expiresAt: new Date(Date.now() + 60_000).toISOString() })
  const restarted = await openStoreSession(store('ckpt', 'same-pid'), identity)
  await restarted.release()
})

test('a worker whose lease was taken over stops, and cannot overwrite the new holder', async () => {
  const session = await openStoreSession(store('ckpt', 'stolen'), identity, { leaseMs: 60_000 })
  // Another worker takes the share over (e.g. after this one's lease expired while it hung).
  const raw = await bed.doc.send(new GetCommand({ TableName: 'ckpt', Key: { runId: 'stolen' } }))
  const record = JSON.parse(raw.Item!.checkpoint)
  record.lease = { token: 'theirs', host: 'other', pid: 1, since: new Date().toISOString(), expiresAt: new Date(Date.now() + 60_000).toISOString() }
  await bed.doc.send(new PutCommand({ TableName: 'ckpt', Item: { runId: 'stolen', rev: raw.Item!.rev + 1, checkpoint: JSON.stringify(record) } }))
  const error = await leaseError(session.save({ version: 1, identity, complete: false, totals: { read: 9, matched: 9, unmatched: 0, written: 9, skipped: 0, failed: 0, sourceFailed: 0 }, updatedAt: '' }))
  assert.is(error?.code, 'ERR_CHECKPOINT_LOCKED')
  assert.match(error!.message!, /process 1 on other .* took it over/)
  const after = await bed.doc.send(new GetCommand({ TableName: 'ckpt', Key: { runId: 'stolen' } }))
  assert.is(JSON.parse(after.Item!.checkpoint).lease.token, 'theirs', 'the new holder is untouched')
})

test('a run whose lease is taken over mid-run ends failed with ERR_CHECKPOINT_LOCKED', async () => {
  const run = hydrate({ source: 'json:events.ndjson', sink: 'ndjson:stolen-run.ndjson', checkpoint: 'dynamo:ckpt/stolen-run', checkpointInterval: 100, rate: 2000, cwd: dir, env })
  await new Promise((r) => setTimeout(r, 400))
  const raw = await bed.doc.send(new GetCommand({ TableName: 'ckpt', Key: { runId: 'stolen-run' } }))
  const record = JSON.parse(raw.Item!.checkpoint)
  record.lease = { token: 'theirs', host: 'other', pid: 1, since: new Date().toISOString(), expiresAt: new Date(Date.now() + 60_000).toISOString() }
  await bed.doc.send(new PutCommand({ TableName: 'ckpt', Item: { runId: 'stolen-run', rev: raw.Item!.rev + 1, checkpoint: JSON.stringify(record) } }))
  const report = await run
  assert.is(report.status, 'failed')
  assert.is(report.error?.code, 'ERR_CHECKPOINT_LOCKED')
  assert.ok(report.source.read < 3000, 'it stopped')
})

test('after every batch, a sink waits for the store write before it sends the next batch', async () => {
  const { defineSink } = await import('../../lib/define-sink.js')
  const log: string[] = []
  const memory = new Map<string, { text: string; version: string }>()
  const slowStore: CheckpointStore = {
    uri: 'memory:slow',
    async load() {
      return memory.get('k')
    },
    async save(text, expected) {
      await new Promise((r) => setTimeout(r, 20))
      if (memory.get('k')?.version !== expected) return undefined
      const version = String(Number(expected ?? 0) + 1)
      memory.set('k', { text, version })
      if (JSON.parse(text).totals) log.push(`save ${JSON.parse(text).totals.written}`)
      return version
    },
  }
  const sink = Object.assign(
    defineSink<unknown, unknown>({ uri: 'append:test', write: async (batch) => (log.push(`write ${batch.length}`), batch.map(() => ({ status: 'written' as const }))) }, { batchSize: 10, concurrency: 4 }),
    { checkpointEveryBatch: true },
  )
  const report = await hydrate({ source: 'json:events.ndjson', sink, checkpoint: slowStore, limit: 50, cwd: dir, env })
  assert.is(report.status, 'ok')
  const writes = log.filter((l) => l.startsWith('write')).length
  assert.is(writes, 5)
  // Every write but the first comes after the save of the batch before it.
  for (let i = 1; i < log.length; i++) if (log[i]!.startsWith('write')) assert.match(log[i - 1]!, /^save/, log.join(', '))
})

test.run()
