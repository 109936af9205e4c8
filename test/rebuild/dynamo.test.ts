// --rebuild into DynamoDB against dynalite: a table cannot be renamed, so the run writes a new table
// created like the old one (keys, indexes, billing mode), names it, and says so.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true'
import { CreateTableCommand, DescribeTableCommand, ListTablesCommand, ScanCommand, type DynamoDBClient } from '@aws-sdk/client-dynamodb'
import { rm } from 'node:fs/promises'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { hydrate, type HydrateOptions } from '../../lib/hydrate.js'
import { ndjson, rejects, tempDir } from '../helpers.js'
import { dynamoClients, dynamoEnv, startDynalite, type DynaliteServer } from '../servers/dynalite.js'

const test = suite('--rebuild: DynamoDB')
let dynamo: DynaliteServer
let client: DynamoDBClient
let tmp: Awaited<ReturnType<typeof tempDir>>

test.before(async () => {
  tmp = await tempDir('eh-rebuild-ddb-')
  dynamo = await startDynalite()
  client = dynamoClients(dynamo.endpoint).client
})

test.after(async () => {
  client?.destroy()
  await dynamo?.close()
  await tmp?.cleanup()
})

/** `users`: tenant + id, a provisioned table with a GSI and an LSI. */
async function usersTable(name: string): Promise<void> {
  await client.send(
    new CreateTableCommand({
      TableName: name,
      KeySchema: [
        { AttributeName: 'tenant', KeyType: 'HASH' },
        { AttributeName: 'id', KeyType: 'RANGE' },
      ],
      AttributeDefinitions: [
        { AttributeName: 'tenant', AttributeType: 'S' },
        { AttributeName: 'id', AttributeType: 'S' },
        { AttributeName: 'email', AttributeType: 'S' },
        { AttributeName: 'version', AttributeType: 'N' },
      ],
      BillingMode: 'PROVISIONED',
      ProvisionedThroughput: { ReadCapacityUnits: 7, WriteCapacityUnits: 9 },
      GlobalSecondaryIndexes: [
        { IndexName: 'by-email', KeySchema: [{ AttributeName: 'email', KeyType: 'HASH' }], Projection: { ProjectionType: 'KEYS_ONLY' }, ProvisionedThroughput: { ReadCapacityUnits: 3, WriteCapacityUnits: 4 } },
      ],
      LocalSecondaryIndexes: [
        {
          IndexName: 'by-version',
          KeySchema: [
            { AttributeName: 'tenant', KeyType: 'HASH' },
            { AttributeName: 'version', KeyType: 'RANGE' },
          ],
          Projection: { ProjectionType: 'INCLUDE', NonKeyAttributes: ['name'] },
        },
      ],
    }),
  )
}

const user = (i: number) => ({ id: `e${i}`, source: 'users', detail: { tenant: 't1', id: `u${i}`, email: `u${i}@example.com`, name: `user ${i}`, version: 1 } })

function options(file: string, table: string, more: Partial<HydrateOptions> = {}): HydrateOptions {
  return {
    source: `json:${file}`,
    sink: `dynamo:${table}`,
    column: ['tenant=detail.tenant', 'id=detail.id', 'email=detail.email', 'name=detail.name', 'version=detail.version'],
    key: 'tenant,id',
    rebuild: true,
    env: dynamoEnv(dynamo.endpoint),
    cwd: tmp.dir,
    ...more,
  }
}

const describe = async (name: string) => (await client.send(new DescribeTableCommand({ TableName: name }))).Table!
const tables = async () => ((await client.send(new ListTablesCommand({}))).TableNames ?? []).sort()
const itemCount = async (name: string) => (await client.send(new ScanCommand({ TableName: name, Select: 'COUNT' }))).Count

test('writes a new table created like the old one, names it and says it cannot be swapped', async () => {
  await usersTable('users')
  const file = await tmp.file('users.ndjson', ndjson(Array.from({ length: 40 }, (_, i) => user(i))))
  const report = await hydrate(options(file, 'users'))
  assert.is(report.status, 'ok', JSON.stringify(report.error))
  const rebuild = report.rebuild!
  assert.is(rebuild.state, 'written')
  assert.match(rebuild.table, /^users__rebuild_[0-9a-f]{8}$/)
  assert.match(rebuild.message, /DynamoDB cannot rename a table/)
  assert.ok(rebuild.message.includes(rebuild.table))
  assert.is(await itemCount(rebuild.table), 40)
  assert.is(await itemCount('users'), 0, 'the old table is untouched')
  const [old, made] = [await describe('users'), await describe(rebuild.table)]
  assert.equal(made.KeySchema, old.KeySchema)
  assert.equal(
    [...made.AttributeDefinitions!].sort((a, b) => a.AttributeName!.localeCompare(b.AttributeName!)),
    [...old.AttributeDefinitions!].sort((a, b) => a.AttributeName!.localeCompare(b.AttributeName!)),
  )
  assert.equal(
    { r: made.ProvisionedThroughput?.ReadCapacityUnits, w: made.ProvisionedThroughput?.WriteCapacityUnits },
    { r: 7, w: 9 },
  )
  const shape = (t: typeof old) => ({
    gsi: t.GlobalSecondaryIndexes?.map((g) => ({ n: g.IndexName, k: g.KeySchema, p: g.Projection, r: g.ProvisionedThroughput?.ReadCapacityUnits })),
    lsi: t.LocalSecondaryIndexes?.map((l) => ({ n: l.IndexName, k: l.KeySchema, p: l.Projection })),
  })
  assert.equal(shape(made), shape(old))
})

test('an on-demand table gives an on-demand copy; a dry run creates nothing', async () => {
  await client.send(
    new CreateTableCommand({
      TableName: 'accounts',
      KeySchema: [{ AttributeName: 'id', KeyType: 'HASH' }],
      AttributeDefinitions: [{ AttributeName: 'id', AttributeType: 'S' }],
      BillingMode: 'PAY_PER_REQUEST',
    }),
  )
  const file = await tmp.file('accounts.ndjson', ndjson([{ id: 'a1', name: 'one' }, { id: 'a2', name: 'two' }]))
  const before = await tables()
  const dry = await hydrate({ source: `json:${file}`, sink: 'dynamo:accounts', rebuild: true, dryRun: true, env: dynamoEnv(dynamo.endpoint), cwd: tmp.dir })
  assert.is(dry.rebuild!.state, 'planned')
  assert.is(dry.sink.plan?.wouldInsert, 2)
  assert.equal(await tables(), before, 'a dry run creates no table')
  const report = await hydrate({ source: `json:${file}`, sink: 'dynamo:accounts', rebuild: true, env: dynamoEnv(dynamo.endpoint), cwd: tmp.dir })
  assert.is(report.rebuild!.state, 'written')
  assert.is((await describe(report.rebuild!.table)).BillingModeSummary?.BillingMode, 'PAY_PER_REQUEST')
  assert.is(await itemCount(report.rebuild!.table), 2)
})

test('a run that does not end ok reports the new table as pending; a resume goes on into it', async () => {
  await usersTable('people')
  const file = await tmp.file('people.ndjson', ndjson([...Array.from({ length: 10 }, (_, i) => user(i)), { id: 'bad', detail: { tenant: 't1', name: 'no id' } }]))
  const checkpoint = `${tmp.dir}/people.ckpt`
  const first = await hydrate(options(file, 'people', { checkpoint, deadLetter: `${tmp.dir}/people.dead.ndjson` }))
  assert.is(first.status, 'partial')
  assert.is(first.rebuild!.state, 'pending')
  assert.is(await itemCount(first.rebuild!.table), 10)
  const again = await hydrate(options(file, 'people', { checkpoint, deadLetter: `${tmp.dir}/people.dead.ndjson` }))
  assert.is(again.checkpoint?.alreadyComplete, true)
  assert.equal((await tables()).filter((t) => t.startsWith('people__rebuild_')), [first.rebuild!.table], 'one new table per checkpoint')
  // The checkpoint deleted: the new table (which a service may use now) is not dropped and made again.
  await rm(checkpoint, { force: true })
  await rejects(hydrate(options(file, 'people', { checkpoint })), 'ERR_TARGET_NOT_EMPTY', /another --checkpoint/)
  assert.is(await itemCount(first.rebuild!.table), 10)
})

test.run()
