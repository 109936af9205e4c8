// Table and index names DynamoDB refuses are configuration errors (exit 2) naming the name and the
// rule, found before any request; a ValidationException DynamoDB answers when the table is opened
// is one too, never "cannot reach".
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true'
import { readFile } from 'node:fs/promises'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { cli } from '../../cli/app.js'
import { HydratorError, isConfigError } from '../../lib/errors.js'
import { toDynamo } from '../../lib/dynamo/sink.js'
import { queryDynamo } from '../../lib/dynamo/query.js'
import { scanDynamo } from '../../lib/dynamo/scan.js'
import { all, captured, ndjson, readableOf, tempDir } from '../helpers.js'
import { createTable, dynamoClients, startDynalite, type DynaliteServer } from '../servers/dynalite.js'
import { startFaultProxy, type FaultProxy } from '../servers/fault-proxy.js'

const test = suite('faults: DynamoDB names DynamoDB refuses')

let server: DynaliteServer
/** In front of dynalite, counting the requests that reach it. */
let proxy: FaultProxy
let clients: ReturnType<typeof dynamoClients>
let tmp: Awaited<ReturnType<typeof tempDir>>

test.before(async () => {
  server = await startDynalite()
  proxy = await startFaultProxy({ target: server.endpoint })
  clients = dynamoClients(server.endpoint, { maxAttempts: 1 })
  tmp = await tempDir()
  await createTable(clients.client, 'orders', { partition: ['id', 'S'] })
})

test.after(async () => {
  clients.destroy()
  await proxy.close()
  await server.close()
  await tmp.cleanup()
})

const RULE = /3 to 255 characters of a-z, A-Z, 0-9, `_`, `-` and `\.`/
const BAD_TABLES = ['ab', 'bad name!', 'orders/2024', 'tä ble', 'x'.repeat(256)]
const mapping = { columns: { id: 'id' }, key: ['id'] }
const FAST = { attempts: 2, minDelayMs: 1, maxDelayMs: 2 }

async function* from<T>(items: Iterable<T>): AsyncGenerator<T> {
  for (const item of items) yield item
}

/** Runs `make` and returns the HydratorError it throws. */
async function thrown(make: () => unknown): Promise<HydratorError> {
  try {
    await make()
  } catch (error) {
    assert.instance(error, HydratorError)
    return error as HydratorError
  }
  throw new assert.Assertion({ message: 'expected an error', generated: false, operator: 'throws', expects: 'an error', actual: 'nothing' })
}

/** A message quotes the name, or the start of a long one. */
const quotes = (message: string, name: string) => assert.ok(message.includes(`\`${name.slice(0, 64)}`), `${message} names ${name.slice(0, 20)}`)

test('the sink and both sources refuse a table name DynamoDB would refuse, when called, naming it and the rule', async () => {
  for (const tableName of BAD_TABLES) {
    const makers = [
      () => toDynamo({ client: clients.doc, tableName, mapping }),
      () => scanDynamo({ client: clients.doc, tableName }),
      () => queryDynamo({ client: clients.doc, tableName, keyCondition: { value: 'a' } }),
    ]
    for (const make of makers) {
      const error = await thrown(make)
      assert.is(error.code, 'ERR_INVALID_OPTION')
      assert.ok(isConfigError(error))
      assert.match(error.message, RULE)
      assert.match(error.message, /`tableName`/)
      quotes(error.message, tableName)
    }
  }
  const index = await thrown(() => scanDynamo({ client: clients.doc, tableName: 'orders', indexName: 'by' }))
  assert.is(index.code, 'ERR_INVALID_OPTION')
  assert.match(index.message, /the index name `by` is not 3 to 255/)
  const long = await thrown(() => scanDynamo({ client: clients.doc, tableName: 'x'.repeat(300) }))
  assert.match(long.message, /\(300 characters\)/)
  assert.ok(long.message.length < 400, 'a long name is not quoted whole')
})

test('names DynamoDB accepts pass: 3 and 255 characters, every allowed character, a table ARN', () => {
  for (const tableName of ['abc', 'x'.repeat(255), 'Orders_2024-01.v2', 'arn:aws:dynamodb:eu-west-1:123456789012:table/orders']) {
    toDynamo({ client: clients.doc, tableName, mapping })
    scanDynamo({ client: clients.doc, tableName, indexName: 'by-stream.v1' })
  }
  assert.throws(() => scanDynamo({ client: clients.doc, tableName: 'arn:aws:dynamodb:eu-west-1:123456789012:table/a b' }), /the table name `a b` in the ARN/)
})

test('a ValidationException answered at DescribeTable is a configuration error, not ERR_CONNECTION', async () => {
  // A table ARN passes our check; dynalite, like DynamoDB before ARNs were accepted, refuses it.
  const arn = 'arn:aws:dynamodb:us-east-1:000000000000:table/orders'
  const sink = await thrown(() => toDynamo({ client: clients.doc, tableName: arn, mapping, retry: FAST })(from([{ id: 'a' }])))
  const source = await thrown(() => all(scanDynamo({ client: clients.doc, tableName: arn, retry: FAST })))
  for (const error of [sink, source]) {
    assert.is(error.code, 'ERR_INVALID_OPTION', error.message)
    assert.ok(isConfigError(error))
    assert.match(error.message, /ValidationException/)
    quotes(error.message, arn)
  }
})

test('through the CLI: a bad table or index name exits 2 naming it, before any request, for the sink and the source; so does a refused DescribeTable', async () => {
  const input = await tmp.file('events.ndjson', ndjson([{ id: 'a' }]))
  const endpoint = `endpoint=${encodeURIComponent(proxy.url)}&region=us-east-1`
  const env = { ...process.env, AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' }
  const hydrate = async (args: string[]) => {
    const stdout = captured()
    const stderr = captured()
    const code = await cli([...args, '--retry-attempts', '1'], { stdout, stderr, stdin: readableOf(''), env, cwd: tmp.dir })
    return { code, stderr: stderr.text() }
  }
  const cases: [args: string[], name: string, requests: number][] = [
    [['--source', `json:${input}`, '--sink', `dynamo:ab?${endpoint}`, '--column', 'id=id', '--key', 'id'], 'ab', 0],
    [['--source', `json:${input}`, '--sink', `dynamo:?table=${encodeURIComponent('bad name!')}&${endpoint}`, '--column', 'id=id', '--key', 'id'], 'bad name!', 0],
    [['--source', `dynamo:${'t'.repeat(256)}?${endpoint}`, '--sink', `ndjson:${tmp.dir}/out.ndjson`], 't'.repeat(256), 0],
    [['--source', `dynamo:orders?index=ix&partition=a&${endpoint}`, '--sink', `ndjson:${tmp.dir}/out.ndjson`], 'ix', 0],
    // Passes the name rules; DynamoDB (here dynalite) answers DescribeTable with a ValidationException.
    [['--source', `json:${input}`, '--sink', `dynamo:?table=${encodeURIComponent('arn:aws:dynamodb:us-east-1:000000000000:table/orders')}&${endpoint}`, '--column', 'id=id', '--key', 'id'], 'arn:aws:dynamodb:us-east-1:000000000000:table/orders', 1],
  ]
  for (const [args, name, requests] of cases) {
    const before = proxy.stats.requests
    const r = await hydrate(args)
    assert.is(proxy.stats.requests - before, requests, `${name}: requests that reached DynamoDB`)
    assert.is(r.code, 2, `${name}: ${r.stderr}`)
    assert.match(r.stderr, /^hydrate: ERR_INVALID_(URI|OPTION): /, name)
    assert.not.match(r.stderr, /cannot reach|ERR_CONNECTION/)
    quotes(r.stderr, name)
    assert.ok(r.stderr.length < 600, `${name}: a long name or URI is not quoted whole`)
  }
  assert.is(await readFile(`${tmp.dir}/out.ndjson`, 'utf8').catch(() => ''), '', 'nothing was written')
})

test.run()
