// npx tsx bench/dynamo.ts [--events N]
// events -> toDynamo against a bare BatchWriteItem loop with the same client and concurrency, and
// dynamo -> events (scanDynamo) against a bare Scan loop, both on dynalite in this process, in the
// same run. dynalite is far slower than DynamoDB, so the ratios say what event-hydrator adds on top
// of the requests, not what DynamoDB can do.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true'

import { BatchWriteCommand, ScanCommand } from '@aws-sdk/lib-dynamodb'
import { toDynamo } from '../lib/dynamo/sink.js'
import { scanDynamo } from '../lib/dynamo/scan.js'
import { createTable, dynamoClients, startDynalite } from '../test/servers/dynalite.js'
import { makeEvent, rng } from './generate.js'
import { eventsArg, isMain, printRows, type BenchRow } from './common.js'

const CONCURRENCY = 8
const BATCH = 25

/** Runs the DynamoDB scenarios with `events` events (default 200,000). */
export async function benchDynamo({ events = 200_000 }: { events?: number } = {}): Promise<BenchRow[]> {
  // Each side writes to a server of its own, so neither writes into a store the other has filled.
  const bareServer = await startDynalite()
  const bare = dynamoClients(bareServer.endpoint)
  const server = await startDynalite()
  const { client, doc, destroy } = dynamoClients(server.endpoint)
  const rows: BenchRow[] = []
  try {
    const random = rng(42)
    const data = Array.from({ length: events }, (_, i) => makeEvent(i, random))
    // One item per event: keyed by event id, so nothing collapses and both sides write `events` items.
    const mapping = {
      columns: { id: 'id', type: 'detail-type', source: 'source', time: 'time', detail: 'detail' },
      key: ['id'],
    }
    await createTable(bare.client, 'bare_write', { partition: ['id', 'S'] })
    await createTable(client, 'ours_write', { partition: ['id', 'S'] })

    // Baseline: CONCURRENCY workers, each sending BatchWriteItem of 25 and resending UnprocessedItems.
    let t = performance.now()
    let next = 0
    const worker = async () => {
      while (next < data.length) {
        const start = next
        next += BATCH
        let requests = data.slice(start, start + BATCH).map((e) => ({
          PutRequest: { Item: { id: e.id, type: e['detail-type'], source: e.source, time: e.time, detail: e.detail } },
        }))
        while (requests.length > 0) {
          const out = await bare.doc.send(new BatchWriteCommand({ RequestItems: { bare_write: requests } }))
          requests = (out.UnprocessedItems?.bare_write ?? []) as typeof requests
        }
      }
    }
    await Promise.all(Array.from({ length: CONCURRENCY }, worker))
    const bareWriteMs = performance.now() - t

    t = performance.now()
    async function* source() {
      yield* data
    }
    const result = await toDynamo({ client: doc, tableName: 'ours_write', mapping, concurrency: CONCURRENCY, batchSize: BATCH })(source())
    const oursWriteMs = performance.now() - t
    if (result.written !== events) throw new Error(`toDynamo wrote ${result.written} of ${events}`)
    rows.push({
      scenario: `${events.toLocaleString()} events -> toDynamo (batches of ${BATCH}, ${CONCURRENCY} in flight) vs bare BatchWriteItem loop`,
      baselineMs: bareWriteMs,
      ours: oursWriteMs,
      ratio: oursWriteMs / bareWriteMs,
      notes: 'dynalite in-process',
    })

    // Reading: a bare sequential Scan loop against scanDynamo, then 4 segments against 4 bare segment loops.
    const bareScan = async (segment?: number, total?: number) => {
      let count = 0
      let key: Record<string, unknown> | undefined
      do {
        const out = await doc.send(
          new ScanCommand({ TableName: 'ours_write', ExclusiveStartKey: key, ...(total ? { Segment: segment, TotalSegments: total } : {}) }),
        )
        count += out.Items?.length ?? 0
        key = out.LastEvaluatedKey
      } while (key)
      return count
    }
    // Reads are short: best of 3, alternating, so a passing load spike does not decide the ratio.
    for (const parallelism of [1, 4]) {
      let bareMs = Infinity
      let oursMs = Infinity
      for (let round = 0; round < 3; round++) {
        t = performance.now()
        const counts = await Promise.all(
          Array.from({ length: parallelism }, (_, s) => (parallelism > 1 ? bareScan(s, parallelism) : bareScan())),
        )
        bareMs = Math.min(bareMs, performance.now() - t)
        t = performance.now()
        let count = 0
        for await (const _ of scanDynamo({ client: doc, tableName: 'ours_write', parallelism })) count++
        oursMs = Math.min(oursMs, performance.now() - t)
        const bareCount = counts.reduce((a, b) => a + b, 0)
        if (count !== events || bareCount !== events) throw new Error(`scan read ${count}, bare ${bareCount}, of ${events}`)
      }
      rows.push({
        scenario: `dynamo -> ${events.toLocaleString()} events: scanDynamo (parallelism ${parallelism}) vs bare Scan loop${parallelism > 1 ? `s (${parallelism} segments)` : ''}`,
        baselineMs: bareMs,
        ours: oursMs,
        ratio: oursMs / bareMs,
        notes: 'DynamoDB pages of 1 MB; best of 3',
      })
    }
  } finally {
    bare.destroy()
    destroy()
    await Promise.all([bareServer.close(), server.close()])
  }
  return rows
}

if (isMain(import.meta.url)) printRows(await benchDynamo({ events: eventsArg(200_000) }))
