import { readFile, writeFile } from 'node:fs/promises'
import path from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { hydrate } from '../../lib/hydrate.js'
import type { CheckpointStore, StoredText } from '../../lib/checkpoint/index.js'
import type { Plugin } from '../../lib/registry.js'
import { rejects, tempDir } from '../helpers.js'

const test = suite('a custom checkpoint store, plugged in through the registry')

/** Records kept in a Map: what a plugin for Redis, Consul or a SQL table would do. */
const records = new Map<string, StoredText>()
let saves = 0
const memoryPlugin: Plugin = {
  name: 'memory-checkpoints',
  checkpoints: {
    memory: (uri): CheckpointStore => ({
      uri: uri.uri,
      async load() {
        return records.get(uri.path)
      },
      async save(text, expected) {
        if (records.get(uri.path)?.version !== expected) return undefined
        saves++
        const version = String(Number(expected ?? 0) + 1)
        records.set(uri.path, { text, version })
        return version
      },
    }),
  },
}

let tmp: Awaited<ReturnType<typeof tempDir>>
test.before(async () => {
  tmp = await tempDir('eh-custom-store-')
  await writeFile(path.join(tmp.dir, 'events.ndjson'), Array.from({ length: 500 }, (_, i) => JSON.stringify({ id: i })).join('\n') + '\n')
})
test.after(async () => tmp.cleanup())

test('hydrate() keeps its checkpoint in a plugin store: resumed after a stop, then complete, with a lease while it runs', async () => {
  const controller = new AbortController()
  let n = 0
  const options = {
    source: 'json:events.ndjson',
    sink: 'ndjson:out.ndjson',
    checkpoint: 'memory:run-1',
    plugins: [memoryPlugin],
    batchSize: 50,
    filter: function stopAt200() {
      if (++n === 200) controller.abort()
      return true
    },
    cwd: tmp.dir,
  }
  const first = await hydrate({ ...options, signal: controller.signal })
  assert.is(first.status, 'aborted')
  assert.is(first.checkpoint?.file, 'memory:run-1')
  const stored = JSON.parse(records.get('run-1')!.text)
  assert.is(stored.lease, undefined, 'released at the end')
  assert.ok(stored.totals.read > 0 && stored.totals.read < 500)

  // While a run holds it, a second one is refused.
  const slow = hydrate({ ...options, signal: undefined, rate: 1000 })
  await new Promise((r) => setTimeout(r, 150))
  assert.ok(JSON.parse(records.get('run-1')!.text).lease, 'the running one holds a lease')
  await rejects(hydrate({ ...options, signal: undefined }), 'ERR_CHECKPOINT_LOCKED', /memory:run-1 is in use by process/)
  const second = await slow
  assert.is(second.status, 'ok')
  assert.is(second.checkpoint?.complete, true)
  assert.equal(second.checkpoint?.startTotals, stored.totals, 'it started from the stored totals')
  const out = (await readFile(path.join(tmp.dir, 'out.ndjson'), 'utf8')).trim().split('\n').map((l) => JSON.parse(l).id)
  assert.equal(out, Array.from({ length: 500 }, (_, i) => i), 'every event once, in order')
  assert.ok(saves >= 3)
})

test('a store that throws on load is a clear error before anything is read', async () => {
  const broken: CheckpointStore = {
    uri: 'broken:x',
    load: async () => {
      throw Object.assign(new Error('the store is down'), { code: 'ECONNREFUSED' })
    },
    save: async () => undefined,
  }
  await rejects(hydrate({ source: 'json:events.ndjson', sink: 'ndjson:never.ndjson', checkpoint: broken, cwd: tmp.dir }), 'ERR_CONNECTION', /the checkpoint broken:x: load failed: the store is down/)
  assert.is(await readFile(path.join(tmp.dir, 'never.ndjson')).catch(() => undefined), undefined)
  await rejects(hydrate({ source: 'json:events.ndjson', checkpoint: { uri: 'x' } as unknown as CheckpointStore, cwd: tmp.dir }), 'ERR_INVALID_OPTION', /CheckpointStore/)
  await rejects(hydrate({ source: 'json:events.ndjson', checkpoint: 'memory:x', plugins: [memoryPlugin], checkpointLease: 10, cwd: tmp.dir }), 'ERR_INVALID_OPTION', /checkpointLease.*--checkpoint-lease/)
})

test.run()
