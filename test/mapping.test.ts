import { execFileSync } from 'node:child_process'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { compileMapping } from '../lib/mapping.js'
import { compilePath, compileProjection } from '../lib/util/json-path.js'

const test = suite('mapping: paths, projections, rows')

const event = {
  id: 'e1',
  'detail-type': 'UserRenamed',
  detail: { aggregateId: 'u1', version: 3, items: [{ sku: 'a' }, { sku: 'b' }], nothing: null, 'we"ird\\key': 'w' },
}

test('a projection reads nested names, array indexes and the whole value; a missing value is null', () => {
  const project = compileProjection({
    id: 'id',
    type: 'detail-type',
    aggregate: 'detail.aggregateId',
    second: 'detail.items[1].sku',
    nested: '$.detail.items[0]',
    body: '.',
    gone: 'detail.missing.deeper',
    through: 'id.length',
    none: 'detail.nothing',
    odd: 'detail.we"ird\\key',
  })
  const row = project(event)
  assert.equal(row, {
    id: 'e1',
    type: 'UserRenamed',
    aggregate: 'u1',
    second: 'b',
    nested: { sku: 'a' },
    body: event,
    gone: null,
    through: null,
    none: null,
    odd: 'w',
  })
  assert.is(row.body, event, 'the whole event, not a copy')
})

test('column names are data, never code: quotes, backslashes, __proto__, constructor', () => {
  const names = ['a"b', "c'd", 'e\\f', '`${process.exit(3)}`', '"); process.exit(3); ("', 'constructor', 'hasOwnProperty', '', 'ü 1']
  const project = compileProjection(Object.fromEntries(names.map((n) => [n, 'id'])))
  const row = project(event)
  assert.equal(Object.keys(row), names)
  for (const n of names) assert.is(row[n], 'e1')
  // A column called __proto__ (built with fromEntries, so it is an own key of the paths).
  const withProto = compileProjection(Object.fromEntries([['__proto__', 'detail.version'], ['id', 'id']]))
  const r = withProto(event)
  assert.equal(Object.keys(r), ['__proto__', 'id'])
  assert.is(Object.getOwnPropertyDescriptor(r, '__proto__')?.value, 3)
  assert.is(Object.getPrototypeOf(r), Object.prototype)
})

test('a projection gives what compilePath gives, for random values and paths', () => {
  let seed = 7
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648)
  const keys = ['a', 'b', 'detail', '0', 'x-y']
  const value = (depth: number): unknown => {
    const r = random()
    if (depth > 3 || r < 0.25) return [null, 1, 'text', true, undefined][Math.floor(random() * 5)]
    if (r < 0.4) return Array.from({ length: Math.floor(random() * 3) }, () => value(depth + 1))
    return Object.fromEntries(keys.filter(() => random() < 0.6).map((k) => [k, value(depth + 1)]))
  }
  const path = () => {
    const n = 1 + Math.floor(random() * 3)
    return Array.from({ length: n }, () => (random() < 0.3 ? `${keys[Math.floor(random() * keys.length)]}[${Math.floor(random() * 2)}]` : keys[Math.floor(random() * keys.length)])).join('.')
  }
  for (let round = 0; round < 200; round++) {
    const paths = Object.fromEntries(Array.from({ length: 4 }, (_, i) => [`c${i}`, path()]))
    const project = compileProjection(paths)
    for (let j = 0; j < 10; j++) {
      const v = value(0)
      const expected = Object.fromEntries(Object.entries(paths).map(([name, p]) => [name, compilePath(p)(v) ?? null]))
      assert.equal(project(v), expected, JSON.stringify({ paths, v }))
    }
  }
})

test('where code generation is disallowed, projections still work (the loop)', () => {
  const script = `
    const { compileProjection } = await import('./lib/util/json-path.ts')
    const row = compileProjection({ id: 'id', v: 'detail.version', proto: 'detail.x' })({ id: 'a', detail: { version: 2 } })
    process.stdout.write(JSON.stringify(row))
  `
  const out = execFileSync(process.execPath, ['--disallow-code-generation-from-strings', '--import', 'tsx', '--input-type=module', '-e', script], {
    cwd: new URL('..', import.meta.url),
    encoding: 'utf8',
    env: { ...process.env, NODE_OPTIONS: '' },
  })
  assert.equal(JSON.parse(out), { id: 'a', v: 2, proto: null })
})

test('toRow: key and version checked, deletes by pattern, numeric text versions', () => {
  const m = compileMapping({
    columns: { id: 'detail.aggregateId', version: 'detail.version', name: 'detail.name' },
    key: ['id'],
    versionColumn: 'version',
    deleteWhen: { 'detail-type': ['UserDeleted'] },
  })
  const row = m.toRow({ 'detail-type': 'UserRenamed', detail: { aggregateId: 'u1', version: '4', name: 'N' } })
  assert.equal({ op: row.op, row: row.row, key: row.key, version: row.version, keyString: row.keyString }, {
    op: 'upsert',
    row: { id: 'u1', version: 4, name: 'N' },
    key: ['u1'],
    version: 4,
    keyString: '["u1"]',
  })
  assert.is(m.toRow({ 'detail-type': 'UserDeleted', detail: { aggregateId: 'u1', version: 5 } }).op, 'delete')
  assert.throws(() => m.toRow({ detail: { version: 1 } }), /key column `id` \(detail.aggregateId\) is missing/)
  assert.throws(() => m.toRow({ detail: { aggregateId: { a: 1 }, version: 1 } }), /is an object or array/)
  assert.throws(() => m.toRow({ detail: { aggregateId: 'u', version: 'x' } }), /version column `version` \(detail.version\) must be a number, got "x"/)
  assert.throws(() => m.toRow({ detail: { aggregateId: 'u' } }), /must be a number, got nothing/)
})

test.run()
