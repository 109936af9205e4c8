// --rate auto in front of OpenSearch whose write thread pool takes at most 200 documents a second:
// the protocol test server rejects the bulk items above that rate with 429
// rejected_execution_exception, as a node with a full write queue does. The rejected items lower
// the rate and are sent again on their own; every document is indexed exactly once.
import { Client } from '@opensearch-project/opensearch'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { toOpenSearch } from '../../lib/opensearch/index.js'
import { rateControl } from '../../lib/rate-control.js'
import { run } from '../../lib/run.js'
import { startOpenSearchServer, type OpenSearchTestServer } from '../servers/opensearch-server.js'

const LIMIT = 200
const COUNT = 600
const test = suite('--rate auto: OpenSearch')
let server: OpenSearchTestServer
let client: Client

test.before(async () => {
  server = await startOpenSearchServer()
  client = new Client({ node: server.url })
})

test.after(async () => {
  await client?.close()
  await server?.close()
})

async function* docs(n: number) {
  for (let i = 0; i < n; i++) yield { id: `d${i}`, n: i }
}

test('429 bulk items lower the rate; every document is indexed once', async () => {
  await client.indices.create({ index: 'rated' })
  let tokens = 20
  let last = performance.now()
  let accepted = 0
  let rejected = 0
  server.faults.bulkItem = () => {
    const now = performance.now()
    tokens = Math.min(20, tokens + ((now - last) * LIMIT) / 1000)
    last = now
    if (tokens >= 1) {
      tokens -= 1
      accepted++
      return undefined
    }
    rejected++
    return 429
  }
  try {
    const control = rateControl({ startPerSecond: 150, maxPerSecond: 2000 })
    const report = await run({
      source: docs(COUNT),
      sink: toOpenSearch({ client, index: 'rated', idPath: 'id', batchSize: 20, concurrency: 2, retry: { attempts: 10, minDelayMs: 20, maxDelayMs: 300 } }),
      rate: control,
    })
    assert.is(report.status, 'ok', JSON.stringify(report.failures.samples.slice(0, 3)))
    assert.is(report.sink.written, COUNT)
    const stored = server.documents('rated')
    assert.is(stored.length, COUNT)
    assert.ok(stored.every((d) => d._version === 1), 'each document written once')
    assert.is(accepted, COUNT)
    const rate = report.sink.rate!
    assert.ok(rejected > 0 && rate.throttles > 0, `rejected ${rejected}, ${JSON.stringify(rate)}`)
    assert.equal(Object.keys(rate.throttledBy), ['rejected_execution_exception'])
    assert.ok(rate.decreases >= 1)
    assert.ok(rate.settledPerSecond <= LIMIT * 1.15, `settled at ${rate.settledPerSecond}/s`)
  } finally {
    delete server.faults.bulkItem
  }
})

test.run()
