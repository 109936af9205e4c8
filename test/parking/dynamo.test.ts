process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { hydrate } from '../../lib/hydrate.js'
import { scanDynamo } from '../../lib/dynamo/scan.js'
import { ndjson, tempDir } from '../helpers.js'
import { createTable, dynamoClients, dynamoEnv, startDynalite, type DynaliteServer } from '../servers/dynalite.js'

let server: DynaliteServer
let clients: ReturnType<typeof dynamoClients>
let dir: Awaited<ReturnType<typeof tempDir>>

const test = suite('parking: DynamoDB')

test.before(async () => {
  server = await startDynalite()
  clients = dynamoClients(server.endpoint)
  dir = await tempDir('eh-park-dynamo-')
})

test.after(async () => {
  clients.destroy()
  await server.close()
  await dir.cleanup()
})

const event = (id: string, n: number, payload = 'x') => ({ id: `${id}${n}`, 'detail-type': 'Set', source: 'items', time: '2024-01-01T00:00:00Z', detail: { id, n, payload } })

for (const concurrency of [1, 4]) {
  test(`an item that fails before it is sent parks the later writes of its key, in its batch and after (concurrency ${concurrency})`, async () => {
    const table = `items_${concurrency}`
    await createTable(clients.client, table, { partition: ['id', 'S'] })
    // Batches of 3: [a1, a2 (too large), a3], [b1, b2, a4].
    const events = [event('a', 1), event('a', 2, 'y'.repeat(410 * 1024)), event('a', 3), event('b', 1), event('b', 2), event('a', 4)]
    const source = await dir.file(`items-${concurrency}.ndjson`, ndjson(events))
    const deadLetter = path.join(dir.dir, `items-${concurrency}-dl.ndjson`)
    const report = await hydrate({
      source: `json:${source}`,
      sink: `dynamo:${table}`,
      env: dynamoEnv(server.endpoint),
      column: ['id=detail.id', 'n=detail.n', 'payload=detail.payload'],
      key: 'id',
      batchSize: 3,
      concurrency,
      deadLetter,
    })
    assert.is(report.sink.failed, 3)
    assert.is(report.sink.parked, 2)
    assert.equal(report.sink.parkedKeys, ['["a"]'])
    const items: Record<string, any>[] = []
    for await (const item of scanDynamo<Record<string, any>>({ client: clients.doc, tableName: table })) items.push(item)
    assert.equal(
      items.map((i) => [i.id, i.n]).sort(),
      [
        ['a', 1],
        ['b', 2],
      ],
      'a keeps the write before its failure: neither a3 nor a4 was written, and a1 was not collapsed into a3',
    )
    const letters = (await readFile(deadLetter, 'utf8')).trim().split('\n').map((l) => JSON.parse(l))
    assert.equal(letters.map((l) => [l.event.id, l.code]), [
      ['a2', 'ERR_ITEM_TOO_LARGE'],
      ['a3', 'ERR_PARKED'],
      ['a4', 'ERR_PARKED'],
    ])
    assert.is(letters[1].parkedBehind.id, 'a2')
  })
}

test.run()
