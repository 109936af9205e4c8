// readS3 through test/servers/fault-proxy.ts in front of s3rver: 503 SlowDown, 500 and dropped
// connections on ListObjectsV2 and GetObject are retried and counted, nothing is lost; archived
// objects (s3rver lists every object as STANDARD, so the proxy rewrites the listing's StorageClass
// for chosen keys and answers their GET with 403 InvalidObjectState, as S3 does) are failures
// ERR_OBJECT_ARCHIVED and reading goes on; a bucket in another region fails before any event.
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { readS3 } from '../../lib/s3/index.js'
import type { ItemFailure } from '../../lib/types.js'
import { all, at, rejects } from '../helpers.js'
import { startFaultProxy, type FaultAction, type FaultProxy, type FaultRule, type ProxyRequest } from '../servers/fault-proxy.js'
import { S3_TEST_CREDENTIALS, startS3TestServer, type S3TestServer } from '../servers/s3.js'

const test = suite('readS3 under faults')
let s3: S3TestServer
let proxy: FaultProxy
let client: S3Client

const N = 40
const key = (i: number) => `f/event_${i}_${String(i).padStart(3, '0')}.event`
const expected = Array.from({ length: N }, (_, i) => i).sort((a, b) => (key(a) < key(b) ? -1 : 1))

const s3ErrorAnswer = (status: number, code: string, message: string, more = ''): FaultAction => ({
  kind: 'respond',
  status,
  headers: { 'content-type': 'application/xml' },
  body: `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message>${more}<RequestId>fault</RequestId></Error>`,
})
const isList = (r: ProxyRequest) => r.method === 'GET' && /[?&]list-type=2/.test(r.url)
const isGet = (r: ProxyRequest) => r.method === 'GET' && !isList(r) && /^\/events\/./.test(r.url)
const read = (options: object = {}) => readS3({ client, bucket: 'events', prefix: 'f/', pageSize: 7, concurrency: 4, retry: { minDelayMs: 1, maxDelayMs: 5 }, ...options })

test.before(async () => {
  s3 = await startS3TestServer()
  await s3.createBucket('events')
  const own = s3.client()
  for (let i = 0; i < N; i += 10) await Promise.all(Array.from({ length: 10 }, (_, j) => own.send(new PutObjectCommand({ Bucket: 'events', Key: key(i + j), Body: JSON.stringify({ i: i + j }) }))))
  proxy = await startFaultProxy({ target: s3.endpoint, keepHost: true })
  client = new S3Client({ endpoint: proxy.url, region: 'us-east-1', forcePathStyle: true, credentials: S3_TEST_CREDENTIALS, maxAttempts: 1 })
})
test.after(async () => {
  client.destroy()
  await proxy.close()
  await s3.close()
})

test('503 SlowDown, 500 and dropped connections on List and GET are retried, counted, and nothing is lost', async () => {
  const rules: FaultRule[] = [
    { name: 'list-slowdown', match: isList, times: 2, action: s3ErrorAnswer(503, 'SlowDown', 'Please reduce your request rate.') },
    { name: 'list-drop', match: isList, times: 1, action: { kind: 'drop' } },
    { name: 'get-slowdown', match: isGet, times: 5, action: s3ErrorAnswer(503, 'SlowDown', 'Please reduce your request rate.') },
    { name: 'get-500', match: isGet, times: 2, action: s3ErrorAnswer(500, 'InternalError', 'We encountered an internal error.') },
    { name: 'get-drop', match: isGet, times: 3, action: { kind: 'drop' } },
    { name: 'get-drop-after', match: isGet, times: 2, action: { kind: 'forward', dropResponse: true } },
  ]
  proxy.setRules(rules)
  const source = read()
  assert.equal((await all(source)).map((e) => e.i), expected)
  assert.equal(proxy.stats.applied, { 'list-slowdown': 2, 'list-drop': 1, 'get-slowdown': 5, 'get-500': 2, 'get-drop': 3, 'get-drop-after': 2 })
  const retries = Object.values(source.objects.retries).reduce((a, b) => a + b, 0)
  assert.is(retries, 15, JSON.stringify(source.objects.retries))
  assert.is(source.objects.retries.SlowDown, 7)
  assert.is(source.stats.failed, 0)
})

test('a body cut off while streaming goes on from the byte it reached (ranged GET)', async () => {
  const lines = Array.from({ length: 3000 }, (_, i) => JSON.stringify({ i, pad: 'x'.repeat(40) })).join('\n') + '\n'
  await s3.client().send(new PutObjectCommand({ Bucket: 'events', Key: 'g/big.ndjson', Body: lines }))
  proxy.setRules([
    {
      name: 'cut',
      match: (r) => isGet(r) && r.url.startsWith('/events/g/big.ndjson') && r.headers.range === undefined,
      times: 1,
      // The answer claims the whole length and carries a third: the client sees the connection end early.
      action: { kind: 'forward', cutResponseAt: Math.floor(Buffer.byteLength(lines) / 3) },
    },
  ])
  const source = readS3({ client, bucket: 'events', prefix: 'g/', maxBufferBytes: 1000, retry: { minDelayMs: 1, maxDelayMs: 5 } })
  const got = await all(source)
  assert.is(got.length, 3000)
  assert.equal(got.map((e) => e.i), Array.from({ length: 3000 }, (_, i) => i))
  assert.ok(Object.values(source.objects.retries).reduce((a, b) => a + b, 0) >= 1, JSON.stringify(source.objects.retries))
  assert.is(proxy.stats.applied.cut, 1)
})

test('an archived object (listed as DEEP_ARCHIVE, GET answered InvalidObjectState) is ERR_OBJECT_ARCHIVED with key and class; reading goes on', async () => {
  const archived = new Map([[key(3), 'DEEP_ARCHIVE'], [key(17), 'GLACIER']])
  proxy.setRules([
    {
      name: 'listing',
      match: isList,
      action: {
        kind: 'forward',
        response: (res) => {
          let xml = res.body.toString('utf8')
          for (const [k, storageClass] of archived) xml = xml.replace(new RegExp(`(<Key>${k}</Key>[\\s\\S]*?<StorageClass>)STANDARD(</StorageClass>)`), `$1${storageClass}$2`)
          return { body: Buffer.from(xml) }
        },
      },
    },
    {
      name: 'archived-get',
      match: (r) => isGet(r) && [...archived.keys()].some((k) => r.url.split('?')[0] === `/events/${k}`),
      action: (r) => {
        const k = [...archived.keys()].find((k) => r.url.split('?')[0] === `/events/${k}`)!
        return s3ErrorAnswer(403, 'InvalidObjectState', "The operation is not valid for the object's storage class", `<StorageClass>${archived.get(k)}</StorageClass>`)
      },
    },
  ])
  const failures: ItemFailure[] = []
  const source = read({ onFailure: (f: ItemFailure) => failures.push(f) })
  const got = (await all(source)).map((e) => e.i)
  assert.equal(got, expected.filter((i) => i !== 3 && i !== 17))
  assert.equal(
    failures.map((f) => [f.code, f.key, at(f.position)?.key]).sort(),
    [['ERR_OBJECT_ARCHIVED', key(17), key(17)], ['ERR_OBJECT_ARCHIVED', key(3), key(3)]].sort(),
  )
  assert.match(failures.find((f) => f.key === key(3))!.message, /DEEP_ARCHIVE/)
  assert.match(failures.find((f) => f.key === key(17))!.message, /GLACIER/)
  assert.is(source.stats.failed, 2)
})

test('a bucket in another region (301 PermanentRedirect) is ERR_INVALID_OPTION before any event', async () => {
  proxy.setRules([{ match: isList, action: s3ErrorAnswer(301, 'PermanentRedirect', 'The bucket you are attempting to access must be addressed using the specified endpoint.', '<Endpoint>s3.eu-west-1.amazonaws.com</Endpoint>') }])
  await rejects(read().next(), 'ERR_INVALID_OPTION', /another region/)
})

test('retries that run out stop the read with the cause (the checkpoint stays before it)', async () => {
  proxy.setRules([{ match: isGet, action: s3ErrorAnswer(503, 'SlowDown', 'Please reduce your request rate.') }])
  await rejects(all(read({ retry: { attempts: 3, minDelayMs: 1, maxDelayMs: 2 } })), 'ERR_CONNECTION', /SlowDown/)
  proxy.setRules([])
})

test.run()
