// npx tsx bench/opensearch.ts [--events N]
// events -> toOpenSearch against a bare _bulk loop with the same client, batch size and concurrency,
// and opensearch -> events (searchOpenSearch) against a bare point-in-time + search_after loop, all
// on the protocol-level test server in this process, in the same run. The test server is not
// OpenSearch (no Lucene, one process), so the ratios say what event-hydrator adds on top of the
// requests, not what a cluster can do.
import { Client } from '@opensearch-project/opensearch'
import { toOpenSearch } from '../lib/opensearch/sink.js'
import { searchOpenSearch } from '../lib/opensearch/search.js'
import { startOpenSearchServer } from '../test/servers/opensearch-server.js'
import { makeEvent, rng } from './generate.js'
import { eventsArg, isMain, printRows, type BenchRow } from './common.js'

const BATCH = 1000
const CONCURRENCY = 2
const PAGE = 1000
const REPEATS = 3

const MAPPINGS = {
  properties: {
    id: { type: 'keyword' },
    time: { type: 'date' },
    source: { type: 'keyword' },
    'detail-type': { type: 'keyword' },
    detail: { type: 'object' },
  },
}

/** Runs the OpenSearch scenarios with `events` events (default 100,000), best of 3 for each side. */
export async function benchOpenSearch({ events = 100_000 }: { events?: number } = {}): Promise<BenchRow[]> {
  const server = await startOpenSearchServer({ refreshIntervalMs: 0 })
  const client = new Client({ node: server.url })
  const rows: BenchRow[] = []
  const random = rng(42)
  const data = Array.from({ length: events }, (_, i) => makeEvent(i, random))
  let round = 0
  const freshIndex = async () => {
    const index = `bench-${++round}`
    await client.indices.create({ index, body: { mappings: MAPPINGS } as never })
    return index
  }
  const best = async (fn: () => Promise<void>) => {
    let min = Infinity
    for (let r = 0; r < REPEATS; r++) {
      const t = performance.now()
      await fn()
      min = Math.min(min, performance.now() - t)
    }
    return min
  }
  try {
    // Writing: CONCURRENCY workers sending NDJSON bodies of BATCH index actions, checking `errors`.
    const bareWrite = async () => {
      const index = await freshIndex()
      let next = 0
      const worker = async () => {
        while (next < data.length) {
          const start = next
          next += BATCH
          let body = ''
          for (const e of data.slice(start, start + BATCH)) body += `${JSON.stringify({ index: { _id: e.id } })}\n${JSON.stringify(e)}\n`
          const response = await client.bulk({ index, body } as never)
          if ((response.body as { errors?: boolean }).errors) throw new Error('bare bulk had item errors')
        }
      }
      await Promise.all(Array.from({ length: CONCURRENCY }, worker))
      server.reset()
    }
    const oursWrite = async () => {
      const index = await freshIndex()
      async function* source() {
        yield* data
      }
      const result = await toOpenSearch({ client, index, idPath: 'id', batchSize: BATCH, concurrency: CONCURRENCY })(source())
      if (result.written !== events) throw new Error(`toOpenSearch wrote ${result.written} of ${events}`)
      server.reset()
    }
    const bareWriteMs = await best(bareWrite)
    const oursWriteMs = await best(oursWrite)
    rows.push({
      scenario: `${events.toLocaleString()} events -> toOpenSearch (_bulk of ${BATCH}, ${CONCURRENCY} in flight) vs bare _bulk loop`,
      baselineMs: bareWriteMs,
      ours: oursWriteMs,
      ratio: oursWriteMs / bareWriteMs,
      notes: 'protocol-level test server in-process; per-item checks and byte sizing included',
    })

    // Reading: one index, read by a bare PIT + search_after loop and by searchOpenSearch.
    const index = await freshIndex()
    for (let i = 0; i < data.length; i += BATCH) {
      let body = ''
      for (const e of data.slice(i, i + BATCH)) body += `${JSON.stringify({ index: { _id: e.id } })}\n${JSON.stringify(e)}\n`
      await client.bulk({ index, body } as never)
    }
    await client.indices.refresh({ index })
    const sort = [{ time: { order: 'asc' } }, { id: { order: 'asc' } }]
    const bareRead = async () => {
      const pit = (await client.createPit({ index: [index], keep_alive: '1m' })).body.pit_id
      let count = 0
      let after: unknown[] | undefined
      try {
        for (;;) {
          const response = await client.search({
            body: { pit: { id: pit, keep_alive: '1m' }, size: PAGE, sort, track_total_hits: false, ...(after ? { search_after: after } : {}) } as never,
          })
          const hits = (response.body as { hits: { hits: { _source: unknown; sort: unknown[] }[] } }).hits.hits
          count += hits.length
          if (hits.length < PAGE) break
          after = hits[hits.length - 1]!.sort
        }
      } finally {
        await client.deletePit({ body: { pit_id: [pit] } })
      }
      if (count !== events) throw new Error(`bare read ${count} of ${events}`)
    }
    const oursRead = (slices: number) => async () => {
      let count = 0
      for await (const _ of searchOpenSearch({ client, index, sort: ['time', 'id'], pageSize: PAGE, slices })) count++
      if (count !== events) throw new Error(`searchOpenSearch read ${count} of ${events}`)
    }
    const bareReadMs = await best(bareRead)
    const oursReadMs = await best(oursRead(1))
    rows.push({
      scenario: `opensearch -> ${events.toLocaleString()} events: searchOpenSearch (pages of ${PAGE}) vs bare PIT + search_after loop`,
      baselineMs: bareReadMs,
      ours: oursReadMs,
      ratio: oursReadMs / bareReadMs,
      notes: 'ours reads the next page while the current one is handed out',
    })
    const slicedMs = await best(oursRead(4))
    rows.push({
      scenario: `same, searchOpenSearch with 4 slices merged back into sort order vs the same bare loop`,
      baselineMs: bareReadMs,
      ours: slicedMs,
      ratio: slicedMs / bareReadMs,
      notes: 'one process: slices only pay off when the cluster, not this process, is the bottleneck',
    })
  } finally {
    await client.close()
    await server.close()
  }
  return rows
}

if (isMain(import.meta.url)) printRows(await benchOpenSearch({ events: eventsArg(100_000) }))
