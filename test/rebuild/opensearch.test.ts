import { rm } from 'node:fs/promises'
// --rebuild into OpenSearch, through the real client against the protocol-level test server: the
// copy is an index made like the one the alias points at, and the swap moves the alias in one
// `_aliases` request. The test server refuses what OpenSearch refuses (checked first, below), so the
// sink's requests are executed, not just sent.
import { Client } from '@opensearch-project/opensearch'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { hydrate, type HydrateOptions } from '../../lib/hydrate.js'
import { ndjson, rejects, tempDir } from '../helpers.js'
import { startOpenSearchServer, type OpenSearchTestServer } from '../servers/opensearch-server.js'

const test = suite('--rebuild: OpenSearch')
let server: OpenSearchTestServer
let client: Client
let tmp: Awaited<ReturnType<typeof tempDir>>

test.before(async () => {
  tmp = await tempDir('eh-rebuild-os-')
  server = await startOpenSearchServer({ refreshIntervalMs: 0 })
  client = new Client({ node: server.url })
})

test.after(async () => {
  await client?.close()
  await server?.close()
  await tmp?.cleanup()
})

test.before.each(() => server.reset())

const MAPPINGS = { dynamic: 'strict', properties: { id: { type: 'keyword' }, name: { type: 'keyword' }, version: { type: 'long' } } }

/** The alias `users` on `users_v1` (with `old` documents), and a filtered alias `users_recent` beside it. */
async function aliasOf(old = 30): Promise<void> {
  await client.indices.create({
    index: 'users_v1',
    body: { mappings: MAPPINGS, settings: { number_of_replicas: 0, refresh_interval: '5s' }, aliases: { users: {}, users_recent: { filter: { range: { version: { gt: 1 } } } } } },
  } as never)
  if (old > 0) {
    const body = Array.from({ length: old }, (_, i) => [{ index: { _index: 'users_v1', _id: `old${i}` } }, { id: `old${i}`, name: `old ${i}`, version: 1 }]).flat()
    await client.bulk({ body, refresh: true } as never)
  }
}

const user = (i: number, version: unknown = 2) => ({ id: `e${i}`, source: 'users', detail: { id: `u${i}`, name: `user ${i}`, version } })

function options(file: string, more: Partial<HydrateOptions> = {}): HydrateOptions {
  return {
    source: `json:${file}`,
    sink: `opensearch:${server.url}/users`,
    column: ['id=detail.id', 'name=detail.name', 'version=detail.version'],
    key: 'id',
    versionColumn: 'version',
    rebuild: true,
    env: {},
    cwd: tmp.dir,
    ...more,
  }
}

const count = async (index: string) => Number((await client.count({ index })).body.count)
const indices = async () => Object.keys((await client.indices.get({ index: '*' })).body).sort()
const aliasTargets = async (name: string) => Object.keys((await client.indices.getAlias({ name })).body).sort()
const status = (error: unknown) => (error as { meta?: { statusCode?: number } }).meta?.statusCode
const type = (error: unknown) => (error as { meta?: { body?: { error?: { type?: string } } } }).meta?.body?.error?.type

test('the test server refuses what OpenSearch refuses: a missing index or alias, two write indices, a write through an alias of two', async () => {
  await aliasOf(0)
  await client.indices.create({ index: 'users_v2' })
  const refused = async (actions: unknown[]) => client.indices.updateAliases({ body: { actions } } as never).then(() => undefined, (error: unknown) => error)
  let error = await refused([{ add: { index: 'users_v9', alias: 'users' } }])
  assert.is(status(error), 404)
  assert.is(type(error), 'index_not_found_exception')
  error = await refused([{ remove: { index: 'users_v2', alias: 'users' } }])
  assert.is(status(error), 404)
  assert.is(type(error), 'aliases_not_found_exception')
  // All or nothing: the add before the failing remove_index is not applied.
  error = await refused([{ add: { index: 'users_v2', alias: 'users' } }, { remove_index: { index: 'users_v9' } }])
  assert.is(status(error), 404)
  assert.equal(await aliasTargets('users'), ['users_v1'])
  error = await refused([{ add: { index: 'users_v2', alias: 'users', is_write_index: true } }, { add: { index: 'users_v1', alias: 'users', is_write_index: true } }])
  assert.is(type(error), 'illegal_state_exception')
  error = await refused([{ add: { index: 'users_v2', alias: 'users_v1' } }])
  assert.is(type(error), 'invalid_alias_name_exception')
  // An alias of two indices and no write index takes no write.
  await client.indices.updateAliases({ body: { actions: [{ add: { index: 'users_v2', alias: 'users' } }] } } as never)
  const bulk = await client.bulk({ body: [{ index: { _index: 'users', _id: 'x' } }, { id: 'x', name: 'x', version: 1 }] } as never)
  assert.is(bulk.body.errors, true)
  assert.match(JSON.stringify(bulk.body.items[0]), /no write index is defined for alias \[users\]/)
  // Deleting an index through an alias is refused; a private setting cannot be given at creation.
  error = await client.indices.delete({ index: 'users' }).then(() => undefined, (e: unknown) => e)
  assert.is(status(error), 400)
  error = await client.indices.create({ index: 'x', body: { settings: { 'index.uuid': 'abc' } } } as never).then(() => undefined, (e: unknown) => e)
  assert.match(JSON.stringify((error as { meta?: { body?: unknown } }).meta?.body), /private index setting \[index\.uuid\] can not be set explicitly/)
})

test('writes into a new index made like the old one and moves the alias in one request, readers seeing the old or the new count', async () => {
  await aliasOf(30)
  const file = await tmp.file('swap.ndjson', ndjson(Array.from({ length: 120 }, (_, i) => user(i))))
  const seen = new Set<number>()
  let stop = false
  const reader = (async () => {
    while (!stop) {
      seen.add(await count('users'))
      await new Promise((r) => setImmediate(r))
    }
  })()
  const report = await hydrate(options(file, { batchSize: 25 })).finally(async () => {
    stop = true
    await reader
  })
  assert.is(report.status, 'ok', JSON.stringify(report.error))
  const rebuild = report.rebuild!
  assert.is(rebuild.state, 'swapped')
  assert.is(rebuild.target, 'users')
  assert.match(rebuild.table, /^users__rebuild_[0-9a-f]{8}$/)
  assert.equal([...seen].sort((a, b) => a - b), [30, 120], `readers saw ${[...seen]}`)
  assert.equal(await aliasTargets('users'), [rebuild.table])
  assert.equal(await aliasTargets('users_recent'), [rebuild.table], 'the other alias of the old index moved too')
  assert.equal(await indices(), [rebuild.table], 'the old index is removed')
  assert.is(await count('users'), 120)
  const mapping = (await client.indices.getMapping({ index: rebuild.table })).body[rebuild.table].mappings
  assert.equal(mapping, MAPPINGS)
  const settings = (await client.indices.getSettings({ index: rebuild.table, flat_settings: true } as never)).body[rebuild.table]!.settings!
  assert.is(settings['index.number_of_replicas'], '0')
  assert.is(settings['index.refresh_interval'], '5s')
  assert.match(rebuild.steps!.join('\n'), /^POST \/_aliases /)

  // A second rebuild finds the alias on the index the first one made.
  const again = await hydrate(options(file))
  assert.is(again.rebuild!.state, 'swapped')
  assert.equal(await indices(), [again.rebuild!.table])
})

test('a run that does not end ok leaves the alias where it was and the new index in place, named in the report', async () => {
  await aliasOf(30)
  // `version` is a long: a word there is refused by the mapping, so that document fails.
  const file = await tmp.file('partial.ndjson', ndjson([...Array.from({ length: 20 }, (_, i) => user(i)), user(99, 'many')]))
  const report = await hydrate(options(file))
  assert.is(report.status, 'partial')
  assert.is(report.sink.failed, 1)
  assert.is(report.rebuild!.state, 'pending')
  assert.match(report.rebuild!.message, new RegExp(`users is untouched, and ${report.rebuild!.table} is left`))
  assert.equal(await aliasTargets('users'), ['users_v1'])
  assert.is(await count('users'), 30)
  await client.indices.refresh({ index: report.rebuild!.table })
  assert.is(await count(report.rebuild!.table), 20)
})

test('with a checkpoint: run again after the swap, or again with the checkpoint deleted, and the live index is untouched', async () => {
  await aliasOf(30)
  const file = await tmp.file('again.ndjson', ndjson(Array.from({ length: 12 }, (_, i) => user(i))))
  const checkpoint = `${tmp.dir}/again.ckpt`
  const first = await hydrate(options(file, { checkpoint }))
  assert.is(first.rebuild!.state, 'swapped')
  const live = first.rebuild!.table
  // The same command again: the checkpoint is complete, and the swap is not made a second time.
  const again = await hydrate(options(file, { checkpoint }))
  assert.is(again.rebuild!.state, 'swapped')
  assert.match(again.rebuild!.message, /nothing left to swap/)
  assert.equal(await aliasTargets('users'), [live])
  assert.is(await count('users'), 12)
  // The checkpoint deleted: the copy's name is the live index's, which a new rebuild would delete; it is refused.
  await rm(checkpoint, { force: true })
  await rejects(hydrate(options(file, { checkpoint })), 'ERR_TARGET_SCHEMA', /use another --checkpoint/i)
  assert.equal(await aliasTargets('users'), [live])
  assert.is(await count('users'), 12)
})

test('--keep-old keeps the old index with a dated alias', async () => {
  await aliasOf(30)
  const file = await tmp.file('keep.ndjson', ndjson(Array.from({ length: 10 }, (_, i) => user(i))))
  const report = await hydrate(options(file, { keepOld: true }))
  assert.is(report.rebuild!.state, 'swapped')
  const kept = /^(users__old_\d{14}) \(the index users_v1\)$/.exec(report.rebuild!.old!)?.[1]
  assert.ok(kept, report.rebuild!.old)
  assert.equal(await aliasTargets(kept!), ['users_v1'])
  assert.is(await count(kept!), 30)
  assert.is(await count('users'), 10)
})

test('refuses a target that is an index or an alias of two indices, before anything is written', async () => {
  await client.indices.create({ index: 'plain', body: { mappings: MAPPINGS } } as never)
  const file = await tmp.file('refused.ndjson', ndjson([user(1)]))
  await rejects(hydrate(options(file, { sink: `opensearch:${server.url}/plain` })), 'ERR_TARGET_SCHEMA', /`plain` is an index, not an alias/)
  await aliasOf(0)
  await client.indices.create({ index: 'users_v2', body: { mappings: MAPPINGS, aliases: { users: {} } } } as never)
  await rejects(hydrate(options(file)), 'ERR_TARGET_SCHEMA', /points at 2 indices \(users_v1, users_v2\)/)
  await rejects(hydrate(options(file, { sink: `opensearch:${server.url}/nothing` })), 'ERR_TARGET_NOT_FOUND', /no alias `nothing`/)
  assert.equal(await indices(), ['plain', 'users_v1', 'users_v2'], 'no index was created')
})

test('a dry run creates nothing and plans against the empty new index', async () => {
  await aliasOf(30)
  const file = await tmp.file('dry.ndjson', ndjson(Array.from({ length: 15 }, (_, i) => user(i))))
  const report = await hydrate(options(file, { dryRun: true }))
  assert.is(report.rebuild!.state, 'planned')
  assert.match(report.rebuild!.message, /would create users__rebuild_[0-9a-f]{8} like users/)
  assert.is(report.sink.plan?.wouldInsert, 15)
  assert.equal(await indices(), ['users_v1'])
})

test.run()
