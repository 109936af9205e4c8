// readS3 and `s3://bucket/prefix` against s3rver (test/servers/s3.ts) with the real @aws-sdk/client-s3:
// formats, key order across pages, ordered parallel GETs with bounded memory, filters, archived
// objects, configuration errors before any event, and resuming from positions.
import { gzipSync } from 'node:zlib'
import { PutObjectCommand, type S3Client } from '@aws-sdk/client-s3'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { positionOf } from '../../lib/position.js'
import { readS3, type ReadS3Options } from '../../lib/s3/index.js'
import type { ItemFailure } from '../../lib/types.js'
import { all, at, rejects } from '../helpers.js'
import { startS3TestServer, type S3TestServer } from '../servers/s3.js'

const test = suite('readS3: the S3 source')
let s3: S3TestServer
let client: S3Client
let cut: Date

const put = (bucket: string, key: string, body: string | Buffer) => client.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }))
const ev = (id: string, type = 'OrderPlaced') => ({ id, 'detail-type': type, source: 'shop', detail: { id } })
const lines = (...events: object[]) => events.map((e) => JSON.stringify(e)).join('\n') + '\n'
const ids = (events: Record<string, unknown>[]) => events.map((e) => e.id)
const read = (options: Partial<ReadS3Options> & { bucket: string }) => readS3({ client, retry: { minDelayMs: 1, maxDelayMs: 5 }, ...options })

test.before(async () => {
  s3 = await startS3TestServer()
  client = s3.client({ maxAttempts: 1 })
  await s3.createBucket('events')
  await Promise.all([
    put('events', 'mixed/another_event_a1.event', JSON.stringify(ev('a1'))),
    put('events', 'mixed/another_event_a2.event', JSON.stringify(ev('a2'))),
    put('events', 'mixed/batch-1.ndjson', lines(ev('b1'), ev('b2'), ev('b3'))),
    put('events', 'mixed/batch-2.jsonl', `\uFEFF${JSON.stringify(ev('c1'))}\r\n\r\n${JSON.stringify(ev('c2'))}`),
    put('events', 'mixed/batch-3.ndjson.gz', gzipSync(lines(ev('g1'), ev('g2')))),
    put('events', 'mixed/export.json', JSON.stringify([ev('x1'), ev('x2')])),
  ])
  // event_ after batch- and before export in UTF-8 order; written after the others (LastModified).
  // LastModified has whole seconds: the cut is the next second, and the later objects come after it.
  cut = new Date(Math.ceil((Date.now() + 1) / 1000) * 1000)
  await new Promise((resolve) => setTimeout(resolve, cut.getTime() - Date.now() + 50))
  await Promise.all(['e1', 'e2', 'e3'].map((id, i) => put('events', `mixed/event_${i + 1}_${id}.event`, JSON.stringify(ev(id)))))
})
test.after(async () => {
  await s3.close()
})

test('reads each object as its name says, in key order, with positions naming key and line or element', async () => {
  const source = read({ bucket: 'events', prefix: 'mixed/' })
  const events = await all(source)
  assert.equal(ids(events), ['a1', 'a2', 'b1', 'b2', 'b3', 'c1', 'c2', 'g1', 'g2', 'e1', 'e2', 'e3', 'x1', 'x2'])
  assert.equal(at(positionOf(events[0])), { kind: 's3', source: 's3://events/mixed/', key: 'mixed/another_event_a1.event' })
  assert.equal(at(positionOf(events[3])), { kind: 's3', source: 's3://events/mixed/', key: 'mixed/batch-1.ndjson', line: 2, offset: 77, next: 154 })
  assert.equal(at(positionOf(events[6]))?.line, 3, 'the blank CRLF line is counted')
  assert.equal(at(positionOf(events[13])), { kind: 's3', source: 's3://events/mixed/', key: 'mixed/export.json', index: 1 })
  assert.is(source.stats.read, 14)
  assert.is(source.stats.failed, 0)
  assert.is(source.objects.objects, 9)
})

test('keys come in UTF-8 order across many ListObjectsV2 pages', async () => {
  const source = read({ bucket: 'events', prefix: 'mixed/', pageSize: 2 })
  assert.equal(ids(await all(source)), ['a1', 'a2', 'b1', 'b2', 'b3', 'c1', 'c2', 'g1', 'g2', 'e1', 'e2', 'e3', 'x1', 'x2'])
  assert.is(source.objects.pages, 5)
})

test('?match= is a glob on whole keys; after/before select by LastModified (after <= t < before)', async () => {
  assert.equal(ids(await all(read({ bucket: 'events', prefix: 'mixed/', match: 'mixed/*.event' }))), ['a1', 'a2', 'e1', 'e2', 'e3'])
  assert.equal(ids(await all(read({ bucket: 'events', match: '**/*.{ndjson,jsonl}' }))), ['b1', 'b2', 'b3', 'c1', 'c2'])
  assert.equal(ids(await all(read({ bucket: 'events', prefix: 'mixed/', modifiedAfter: cut }))), ['e1', 'e2', 'e3'])
  assert.equal(ids(await all(read({ bucket: 'events', prefix: 'mixed/', modifiedBefore: cut.toISOString() }))), ['a1', 'a2', 'b1', 'b2', 'b3', 'c1', 'c2', 'g1', 'g2', 'x1', 'x2'])
})

test('an unreadable record is a failure with key and line, and reading goes on', async () => {
  await put('events', 'bad/1.ndjson', `${JSON.stringify(ev('ok1'))}\nnot json\n[1]\n${JSON.stringify(ev('ok2'))}\n`)
  await put('events', 'bad/2.event', '{"torn":')
  await put('events', 'bad/3.event', JSON.stringify(ev('ok3')))
  const failures: ItemFailure[] = []
  const source = read({ bucket: 'events', prefix: 'bad/', onFailure: (f) => failures.push(f) })
  assert.equal(ids(await all(source)), ['ok1', 'ok2', 'ok3'])
  assert.equal(failures.map((f) => [f.code, at(f.position)?.key, at(f.position)?.line]), [
    ['ERR_INVALID_JSON', 'bad/1.ndjson', 2],
    ['ERR_NOT_AN_OBJECT', 'bad/1.ndjson', 3],
    ['ERR_INVALID_JSON', 'bad/2.event', undefined],
  ])
})

test('many small objects: GETs run ahead in parallel, events keep key order, at most `concurrency` objects held', async () => {
  await s3.createBucket('many')
  const n = 2000
  const key = (i: number) => `event_${i}_${String(i).padStart(5, '0')}.event`
  for (let i = 0; i < n; i += 100) await Promise.all(Array.from({ length: 100 }, (_, j) => put('many', key(i + j), JSON.stringify({ i: i + j }))))
  const source = read({ bucket: 'many', concurrency: 4 })
  const got = (await all(source)).map((e) => e.i as number)
  const expected = Array.from({ length: n }, (_, i) => i).sort((a, b) => (key(a) < key(b) ? -1 : 1))
  assert.equal(got, expected)
  assert.is(source.objects.objects, n)
  assert.ok(source.objects.peakInFlight <= 4, `held ${source.objects.peakInFlight} objects`)
  assert.ok(source.objects.peakInFlight >= 2, 'GETs did run ahead')
  const wide = read({ bucket: 'many', concurrency: 64, pageSize: 300 })
  assert.equal((await all(wide)).map((e) => e.i), expected)
  assert.ok(wide.objects.peakInFlight <= 64 && wide.objects.peakInFlight > 4)
})

test('an object bigger than maxBufferBytes is streamed at its turn, in order', async () => {
  const big = Array.from({ length: 2000 }, (_, i) => ev(`big${i}`))
  await put('events', 'big/1.event', JSON.stringify(ev('s1')))
  await put('events', 'big/2.ndjson', lines(...big))
  await put('events', 'big/3.event', JSON.stringify(ev('s3')))
  const events = await all(read({ bucket: 'events', prefix: 'big/', maxBufferBytes: 1024, concurrency: 3 }))
  assert.equal(ids(events), ['s1', ...big.map((e) => e.id), 's3'])
})

test('a missing bucket, a refusal or a bucket in another region fails before any event', async () => {
  await rejects(read({ bucket: 'no-such-bucket' }).next(), 'ERR_TARGET_NOT_FOUND', /no-such-bucket/)
  await s3.createBucket('secret')
  s3.denyBucket('secret')
  await rejects(read({ bucket: 'secret' }).next(), 'ERR_AUTH', /s3:ListBucket/)
})

test('resumes inside an object by line (ranged GET), inside a gzip object, after an element, and after a whole object', async () => {
  const source = 's3://events/mixed/'
  const resume = async (position: object) => ids(await all(read({ bucket: 'events', prefix: 'mixed/', resumeFrom: { kind: 's3', source, ...position } as never })))
  const all14 = await all(read({ bucket: 'events', prefix: 'mixed/' }))
  const after = (id: string) => ids(all14).slice(ids(all14).indexOf(id) + 1)
  for (const e of all14) assert.equal(await resume(positionOf(e) as object), after(e.id as string), `resumed after ${String(e.id)}`)
  assert.equal(await resume({ key: 'mixed/batch-1.ndjson' }), after('b3'), 'a position without line is the whole object')
})

test('options are checked when called, echoing the bad value', () => {
  assert.throws(() => read({ bucket: 'events', concurrency: 0 }), /`concurrency` to be an integer between 1 and 1000, got `0`/)
  assert.throws(() => read({ bucket: 'events', match: 'a/[b' }), /without `]`/)
  assert.throws(() => read({ bucket: 'events', modifiedAfter: 'yesterday' }), /`modifiedAfter` to be a date/)
  assert.throws(() => read({ bucket: 'events', resumeFrom: { kind: 'line', source: 'x', file: 'x', line: 1, offset: 0 } }), /kind `line`/)
})

test.run()
