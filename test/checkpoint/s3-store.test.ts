// The S3 checkpoint store against a real S3 implementation (s3rver) and the real @aws-sdk/client-s3,
// through the proxy of test/servers/s3.ts that gives s3rver S3's conditional writes.
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { rejects } from '../helpers.js'
import { s3CheckpointStore, type S3CheckpointStoreOptions } from '../../lib/s3/index.js'
import { freePort } from '../servers/postgres.js'
import { startS3TestServer, type S3TestServer } from '../servers/s3.js'

const test = suite('S3 checkpoint store')
let s3: S3TestServer

test.before(async () => {
  s3 = await startS3TestServer()
  await s3.createBucket('state')
})
test.after(async () => {
  await s3.close()
})

let runs = 0
/** A store on a key no other test uses. */
function fresh(options: Partial<S3CheckpointStoreOptions> = {}) {
  const key = `runs/run-${++runs}.json`
  return { key, store: s3CheckpointStore({ client: s3.client({ maxAttempts: 1 }), bucket: 'state', key, ...options }) }
}


test('load of a key never written is undefined', async () => {
  const { store } = fresh()
  assert.is(await store.load(), undefined)
  assert.is(store.uri, `s3://state/runs/run-${runs}.json`)
})

test('the first save creates the object and resolves with its ETag', async () => {
  const { key, store } = fresh()
  const version = await store.save('{"lease":"a"}', undefined)
  assert.type(version, 'string')
  assert.equal(await s3.getObject('state', key), { text: '{"lease":"a"}', etag: version })
  assert.equal(await store.load(), { text: '{"lease":"a"}', version })
})

test('a second create writes nothing and resolves undefined', async () => {
  const { key, store } = fresh()
  const first = await store.save('{"lease":"a"}', undefined)
  assert.is(await store.save('{"lease":"b"}', undefined), undefined)
  assert.equal(await s3.getObject('state', key), { text: '{"lease":"a"}', etag: first })
})

test('a save with the current version replaces the object and resolves with a new version', async () => {
  const { key, store } = fresh()
  const first = await store.save('{"line":1}', undefined)
  const second = await store.save('{"line":2}', first)
  assert.type(second, 'string')
  assert.is.not(second, first)
  assert.equal(await s3.getObject('state', key), { text: '{"line":2}', etag: second })
  const third = await store.save('{"line":3}', second)
  assert.equal(await store.load(), { text: '{"line":3}', version: third })
})

test('a save with a stale version writes nothing and leaves the object untouched', async () => {
  const { key, store } = fresh()
  const first = await store.save('{"line":1}', undefined)
  const second = await store.save('{"line":2}', first)
  assert.is(await store.save('{"line":99}', first), undefined)
  assert.equal(await s3.getObject('state', key), { text: '{"line":2}', etag: second })
})

test('a save after someone else removed the record resolves undefined and writes nothing', async () => {
  const { key, store } = fresh()
  const first = await store.save('{"line":1}', undefined)
  assert.ok(await store.remove!(first!))
  assert.is(await store.save('{"line":2}', first), undefined)
  assert.is(await s3.getObject('state', key), undefined)
})

test('of two concurrent saves with the same version, exactly one wins, and the object is its text', async () => {
  for (let round = 0; round < 10; round++) {
    const { key, store } = fresh()
    const other = s3CheckpointStore({ client: s3.client({ maxAttempts: 1 }), bucket: 'state', key })
    const base = await store.save(`{"round":${round}}`, undefined)
    const results = await Promise.all([store.save('{"owner":"a"}', base), other.save('{"owner":"b"}', base)])
    const winners = results.filter((v) => v !== undefined)
    assert.is(winners.length, 1, `round ${round}: ${JSON.stringify(results)}`)
    const text = results[0] !== undefined ? '{"owner":"a"}' : '{"owner":"b"}'
    assert.equal(await s3.getObject('state', key), { text, etag: winners[0] })
  }
})

test('of two concurrent creates, exactly one wins', async () => {
  for (let round = 0; round < 10; round++) {
    const { key, store } = fresh()
    const other = s3CheckpointStore({ client: s3.client({ maxAttempts: 1 }), bucket: 'state', key })
    const results = await Promise.all([store.save('{"owner":"a"}', undefined), other.save('{"owner":"b"}', undefined)])
    const winners = results.filter((v) => v !== undefined)
    assert.is(winners.length, 1, `round ${round}: ${JSON.stringify(results)}`)
    const text = results[0] !== undefined ? '{"owner":"a"}' : '{"owner":"b"}'
    assert.equal(await s3.getObject('state', key), { text, etag: winners[0] })
  }
})

test('remove deletes only the version expected', async () => {
  const { key, store } = fresh()
  const first = await store.save('{"line":1}', undefined)
  const second = await store.save('{"line":2}', first)
  assert.is(await store.remove!(first!), false)
  assert.equal(await s3.getObject('state', key), { text: '{"line":2}', etag: second })
  assert.is(await store.remove!(second!), true)
  assert.is(await s3.getObject('state', key), undefined)
  assert.is(await store.remove!(second!), false)
})

test('a create whose answer was lost, retried by the SDK, resolves with the version it wrote', async () => {
  const key = `runs/run-${++runs}.json`
  const store = s3CheckpointStore({ client: s3.client({ maxAttempts: 2 }), bucket: 'state', key })
  s3.dropNextResponse('PUT')
  const version = await store.save('{"lease":"mine"}', undefined)
  assert.type(version, 'string')
  assert.equal(await s3.getObject('state', key), { text: '{"lease":"mine"}', etag: version })
})

test('a replace whose answer was lost, retried by the SDK, resolves with the version it wrote', async () => {
  const key = `runs/run-${++runs}.json`
  const store = s3CheckpointStore({ client: s3.client({ maxAttempts: 2 }), bucket: 'state', key })
  const first = await store.save('{"line":1}', undefined)
  s3.dropNextResponse('PUT')
  const second = await store.save('{"line":2}', first)
  assert.type(second, 'string')
  assert.is.not(second, first)
  assert.equal(await s3.getObject('state', key), { text: '{"line":2}', etag: second })
})

test('a remove whose answer was lost, retried by the SDK, resolves true', async () => {
  const key = `runs/run-${++runs}.json`
  const store = s3CheckpointStore({ client: s3.client({ maxAttempts: 2 }), bucket: 'state', key })
  const first = await store.save('{"line":1}', undefined)
  s3.dropNextResponse('DELETE')
  assert.is(await store.remove!(first!), true)
  assert.is(await s3.getObject('state', key), undefined)
})

test('a record larger than maxBytes is refused as no checkpoint', async () => {
  const { store } = fresh({ maxBytes: 16 })
  await store.save('{"padding":"0123456789"}', undefined)
  await rejects(store.load(), 'ERR_CHECKPOINT_MISMATCH', /s3:\/\/state\/runs\/run-\d+\.json is 24 bytes/)
})

test('a missing bucket is ERR_TARGET_NOT_FOUND naming it', async () => {
  const store = s3CheckpointStore({ client: s3.client({ maxAttempts: 1 }), bucket: 'no-such-bucket', key: 'run.json' })
  await rejects(store.load(), 'ERR_TARGET_NOT_FOUND', /bucket `no-such-bucket` of s3:\/\/no-such-bucket\/run\.json does not exist/)
  await rejects(store.save('{}', undefined), 'ERR_TARGET_NOT_FOUND', /no-such-bucket/)
  await rejects(store.save('{}', '"0123"'), 'ERR_TARGET_NOT_FOUND', /no-such-bucket/)
})

test('access denied is ERR_AUTH naming the object and the IAM actions it needs', async () => {
  await s3.createBucket('locked')
  s3.denyBucket('locked')
  const store = s3CheckpointStore({ client: s3.client({ maxAttempts: 1 }), bucket: 'locked', key: 'hydrate/run.json' })
  const error = await rejects(store.load(), 'ERR_AUTH', /GetObject on s3:\/\/locked\/hydrate\/run\.json was refused \(AccessDenied/)
  assert.match(error.message, /s3:GetObject and s3:PutObject on arn:aws:s3:::locked\/hydrate\/run\.json/)
  assert.match(error.message, /s3:ListBucket/)
  await rejects(store.save('{}', undefined), 'ERR_AUTH', /PutObject on s3:\/\/locked\/hydrate\/run\.json was refused/)
})

test('an unreachable endpoint is ERR_CONNECTION, without waiting for a timeout', async () => {
  const port = await freePort()
  const { S3Client } = await import('@aws-sdk/client-s3')
  const client = new S3Client({
    endpoint: `http://127.0.0.1:${port}`,
    region: 'us-east-1',
    forcePathStyle: true,
    maxAttempts: 2,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
  })
  try {
    const store = s3CheckpointStore({ client, bucket: 'state', key: 'run.json' })
    const started = Date.now()
    await rejects(store.load(), 'ERR_CONNECTION', /GetObject on s3:\/\/state\/run\.json could not reach S3: .*ECONNREFUSED/)
    await rejects(store.save('{}', undefined), 'ERR_CONNECTION', /PutObject on s3:\/\/state\/run\.json could not reach S3/)
    assert.ok(Date.now() - started < 10_000, `took ${Date.now() - started} ms`)
  } finally {
    client.destroy()
  }
})

test('bad options and versions fail at once, naming the value', async () => {
  const client = s3.client()
  assert.throws(() => s3CheckpointStore({ bucket: 'state', key: 'k' } as unknown as S3CheckpointStoreOptions), /expected `client` to be an S3 client/)
  assert.throws(() => s3CheckpointStore({ client, bucket: 'state', key: '' }), /expected `key` to be a non-empty string, got ``/)
  assert.throws(() => s3CheckpointStore({ client, bucket: 'state', key: 'k', maxBytes: 0 }), /expected `maxBytes` to be an integer >= 1, got `0`/)
  const { store } = fresh()
  await rejects(store.save('{}', '*'), 'ERR_INVALID_OPTION', /got `\*`/)
  await rejects(store.save('{}', ''), 'ERR_INVALID_OPTION', /an ETag from load\(\) or save\(\)/)
  await rejects(store.remove!(undefined as unknown as string), 'ERR_INVALID_OPTION', /got `undefined`/)
  assert.is(await store.load(), undefined, 'nothing was written')
})

test.run()
