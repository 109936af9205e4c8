// npx tsx bench/s3.ts [--events N]
// readS3 -> NDJSON against a bare loop of ListObjectsV2 + GetObject with the same client and the
// same concurrency (16 GETs in flight, events written in key order), on s3rver behind the test
// proxy (test/servers/s3.ts) in this process. One event per object, N objects (default 20,000: a
// bucket of 100,000 takes several minutes to fill on s3rver here). Best of two, the sides
// alternating. The ratios say what event-hydrator adds on top of the HTTP round trips and s3rver's
// own disk reads, not what S3 can do.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true'

import { createWriteStream } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import os from 'node:os'
import path from 'node:path'
import { once } from 'node:events'
import { GetObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3'
import { run } from '../lib/run.js'
import { readS3 } from '../lib/s3/index.js'
import { toJsonLines } from '../lib/json/write-lines.js'
import { startS3TestServer } from '../test/servers/s3.js'
import { makeEvent, rng } from './generate.js'
import { eventsArg, isMain, printRows, type BenchRow } from './common.js'

const CONCURRENCY = 16

/** Fills a bucket with `events` one-event objects, 32 PUTs at a time. */
async function fill(client: S3Client, events: number): Promise<void> {
  const random = rng(11)
  let next = 0
  const worker = async () => {
    while (next < events) {
      const i = next++
      const key = `events/event_${String(i).padStart(7, '0')}.event`
      await client.send(new PutObjectCommand({ Bucket: 'bench', Key: key, Body: JSON.stringify(makeEvent(i, random)) }))
    }
  }
  await Promise.all(Array.from({ length: 32 }, worker))
}

/** The baseline: list page by page; GET 16 at a time; write each event as a line, in key order. */
async function bare(client: S3Client, out: string): Promise<number> {
  const stream = createWriteStream(out, { highWaterMark: 1 << 20 })
  let count = 0
  let token: string | undefined
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: 'bench', Prefix: 'events/', ContinuationToken: token }))
    const keys = (page.Contents ?? []).map((o) => o.Key!)
    token = page.NextContinuationToken
    // A window of 16 GETs in flight, taken in key order.
    const bodies: Promise<string>[] = []
    let k = 0
    const fetch = (key: string) => client.send(new GetObjectCommand({ Bucket: 'bench', Key: key })).then((r) => r.Body!.transformToString())
    for (; k < Math.min(CONCURRENCY, keys.length); k++) bodies.push(fetch(keys[k]!))
    for (let i = 0; i < keys.length; i++) {
      const text = await bodies[i]!
      if (k < keys.length) bodies.push(fetch(keys[k++]!))
      const line = JSON.stringify(JSON.parse(text)) + '\n'
      if (!stream.write(line)) await once(stream, 'drain')
      count++
    }
  } while (token)
  stream.end()
  await once(stream, 'finish')
  return count
}

/** Runs the S3 scenario with `events` objects. */
export async function benchS3({ events = 20_000 }: { events?: number } = {}): Promise<BenchRow[]> {
  const s3 = await startS3TestServer()
  const tmp = await mkdtemp(path.join(os.tmpdir(), 'eh-bench-s3-'))
  try {
    await s3.createBucket('bench')
    const client = s3.client()
    const started = performance.now()
    await fill(client, events)
    console.error(`filled ${events.toLocaleString()} objects in ${((performance.now() - started) / 1000).toFixed(0)} s`)
    const times: { bare: number[]; ours: number[] } = { bare: [], ours: [] }
    for (let round = 0; round < 2; round++) {
      let t = performance.now()
      const n = await bare(client, path.join(tmp, 'bare.ndjson'))
      times.bare.push(performance.now() - t)
      t = performance.now()
      const report = await run({ source: readS3({ client, bucket: 'bench', prefix: 'events/', concurrency: CONCURRENCY }), sink: toJsonLines(path.join(tmp, 'ours.ndjson')) })
      times.ours.push(performance.now() - t)
      if (report.sink.written !== n || n !== events) throw new Error(`counts differ: bare ${n}, ours ${report.sink.written}, objects ${events}`)
    }
    const b = Math.min(...times.bare)
    const o = Math.min(...times.ours)
    return [{ scenario: `${events.toLocaleString()} one-event objects -> NDJSON, ${CONCURRENCY} GETs in flight`, baselineMs: b, ours: o, ratio: o / b }]
  } finally {
    await s3.close()
    await rm(tmp, { recursive: true, force: true })
  }
}

if (isMain(import.meta.url)) {
  const rows = await benchS3({ events: eventsArg(20_000) })
  console.log(`\nMachine: ${os.cpus()[0]?.model ?? 'unknown'} x${os.cpus().length}; Node ${process.version}; best of 2\n`)
  printRows(rows)
}
