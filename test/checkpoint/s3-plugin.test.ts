// `--checkpoint s3://bucket/key` through the registry: the URI, the client configuration from the
// URI and the environment, and a store built that way against s3rver (test/servers/s3.ts).
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { rejects } from '../helpers.js'
import { Registry, parseUri } from '../../lib/registry.js'
import { parseS3Location, s3ClientConfig } from '../../lib/s3/client.js'
import { s3Plugin } from '../../lib/s3/index.js'
import { factoryContext } from '../helpers.js'
import { freePort } from '../servers/postgres.js'
import { S3_TEST_CREDENTIALS, startS3TestServer, type S3TestServer } from '../servers/s3.js'

const test = suite('S3 checkpoint plugin')
let s3: S3TestServer

test.before(async () => {
  s3 = await startS3TestServer()
  await s3.createBucket('state')
})
test.after(async () => {
  await s3.close()
})

const registry = new Registry().register(s3Plugin)
const env = (more: Record<string, string> = {}) => ({
  AWS_ACCESS_KEY_ID: S3_TEST_CREDENTIALS.accessKeyId,
  AWS_SECRET_ACCESS_KEY: S3_TEST_CREDENTIALS.secretAccessKey,
  AWS_REGION: 'us-east-1',
  ...more,
})


test('s3://bucket/key with ?endpoint= is a store of that object, its client closed by close() or at the end of the run', async () => {
  const context = factoryContext({ env: env() })
  const store = await registry.createCheckpointStore(`s3://state/plugin/a%20run.json?endpoint=${encodeURIComponent(s3.endpoint)}`, context)
  assert.is(store.uri, 's3://state/plugin/a run.json')
  const version = await store.save('{"lease":"cli"}', undefined)
  assert.equal(await s3.getObject('state', 'plugin/a run.json'), { text: '{"lease":"cli"}', etag: version })
  assert.equal(await store.load(), { text: '{"lease":"cli"}', version })
  assert.equal(context.closers, [store.close], 'the run ends by closing it')
  await store.close!()
  await context.closers[0]!()
})

test('AWS_ENDPOINT_URL_S3 is the endpoint when the URI gives none', async () => {
  const context = factoryContext({ env: env({ AWS_ENDPOINT_URL_S3: s3.endpoint, AWS_ENDPOINT_URL: 'http://127.0.0.1:1' }) })
  const store = await registry.createCheckpointStore('s3://state/plugin/env.json', context)
  try {
    assert.type(await store.save('{}', undefined), 'string')
    assert.is((await s3.getObject('state', 'plugin/env.json'))?.text, '{}')
  } finally {
    await store.close!()
  }
})

test('an unreachable endpoint is ERR_CONNECTION after the few retries of the SDK', async () => {
  const port = await freePort()
  const context = factoryContext({ env: env({ AWS_ENDPOINT_URL: `http://127.0.0.1:${port}` }) })
  const store = await registry.createCheckpointStore('s3://state/plugin/down.json', context)
  try {
    await rejects(store.load(), 'ERR_CONNECTION', /GetObject on s3:\/\/state\/plugin\/down\.json could not reach S3/)
  } finally {
    await store.close!()
  }
})

test('the client configuration: ?endpoint= wins over AWS_ENDPOINT_URL_S3, which wins over AWS_ENDPOINT_URL', () => {
  const all = { AWS_ENDPOINT_URL_S3: 'http://s3-only:1', AWS_ENDPOINT_URL: 'http://any:2', AWS_REGION: 'eu-west-1' }
  assert.equal(s3ClientConfig(parseUri('s3://b-1/k?endpoint=http://given:3'), all), { region: 'eu-west-1', endpoint: 'http://given:3', forcePathStyle: true })
  assert.equal(s3ClientConfig(parseUri('s3://b-1/k'), all), { region: 'eu-west-1', endpoint: 'http://s3-only:1', forcePathStyle: true })
  assert.equal(s3ClientConfig(parseUri('s3://b-1/k'), { AWS_ENDPOINT_URL: 'http://any:2' }), { endpoint: 'http://any:2', forcePathStyle: true })
  assert.equal(s3ClientConfig(parseUri('s3://b-1/k'), { ...all, AWS_IGNORE_CONFIGURED_ENDPOINT_URLS: 'true' }), { region: 'eu-west-1' })
  // Other services' variables are not S3's.
  assert.equal(s3ClientConfig(parseUri('s3://b-1/k'), { AWS_ENDPOINT_URL_DYNAMODB: 'http://dynamo:4' }), {})
})

test('the client configuration: region from ?region=, AWS_REGION, then AWS_DEFAULT_REGION; credentials and profile as for every AWS client', () => {
  const keys = { AWS_ACCESS_KEY_ID: 'AKIDEXAMPLE', AWS_SECRET_ACCESS_KEY: 'secret' }
  assert.equal(s3ClientConfig(parseUri('s3://b-1/k?region=ap-south-1'), { AWS_REGION: 'eu-west-1' }), { region: 'ap-south-1' })
  assert.equal(s3ClientConfig(parseUri('s3://b-1/k'), { AWS_REGION: 'eu-west-1', AWS_DEFAULT_REGION: 'us-west-2' }), { region: 'eu-west-1' })
  assert.equal(s3ClientConfig(parseUri('s3://b-1/k'), { AWS_DEFAULT_REGION: 'us-west-2', ...keys }), {
    region: 'us-west-2',
    credentials: { accessKeyId: 'AKIDEXAMPLE', secretAccessKey: 'secret' },
  })
  assert.equal(s3ClientConfig(parseUri('s3://b-1/k?profile=ops'), keys), { profile: 'ops' })
})

test('the bucket and the percent-decoded key of s3://bucket/key', () => {
  assert.equal(parseS3Location(parseUri('s3://ops-state/hydrate/orders.json')), { bucket: 'ops-state', key: 'hydrate/orders.json' })
  assert.equal(parseS3Location(parseUri('s3://ops.state/a%20b/c%3Fd.json?region=eu-west-1')), { bucket: 'ops.state', key: 'a b/c?d.json' })
})

test('a URI that names no object, a bad bucket name or an unknown parameter is ERR_INVALID_URI before the SDK loads', async () => {
  const context = factoryContext({ env: env() })
  for (const [uri, pattern] of [
    ['s3:state/run.json', /names no S3 object: expected `s3:\/\/bucket\/key`/],
    ['s3://state', /names no S3 object/],
    ['s3://state/', /names no S3 object/],
    ['s3:///run.json', /names no S3 object/],
    ['s3://ab/run.json', /`ab` in `s3:\/\/ab\/run\.json` is not an S3 bucket name/],
    ['s3://state_/run.json', /is not an S3 bucket name/],
    ['s3://state/run%zz.json', /the object key in .* holds a `%` that starts no percent-encoding/],
    ['s3://state/run.json?table=x', /unknown parameter `table`.*known: region, endpoint, profile, timeoutMs/],
    ['s3://state/run.json?timeoutMs=0', /expected `timeoutMs` .* to be an integer >= 1, got `0`/],
    [`s3://state/${'k'.repeat(1025)}`, /is 1025 bytes long; S3 allows 1024/],
  ] as const) {
    await rejects(registry.createCheckpointStore(uri, context), 'ERR_INVALID_URI', pattern)
  }
  assert.is(context.closers.length, 0, 'no client was made')
})

test('an endpoint holding a password never shows it in a message', async () => {
  const context = factoryContext({ env: env() })
  const error = await rejects(registry.createCheckpointStore('s3://state/run.json?endpoint=ftp://admin:hunter2@127.0.0.1/', context), 'ERR_INVALID_URI', /http\(s\) URL/)
  assert.not.match(error.message, /hunter2/)
  const bad = await rejects(registry.createCheckpointStore('s3://s/run.json?endpoint=http://admin:hunter2@127.0.0.1/&x=1', context), 'ERR_INVALID_URI')
  assert.not.match(bad.message, /hunter2/)
})

test.run()
