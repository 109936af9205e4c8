import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { InvalidPatternError } from '../../lib/errors.js'
import { compilePattern, matches, validatePattern } from '../../lib/pattern/index.js'

const test = suite('event pattern operators and validation')

function yes(pattern: unknown, event: unknown): void {
  assert.ok(matches(pattern, event), `expected a match for ${JSON.stringify(event)}`)
}

function no(pattern: unknown, event: unknown): void {
  assert.not.ok(matches(pattern, event), `expected no match for ${JSON.stringify(event)}`)
}

function rejects(pattern: unknown, path: string, reason: string): void {
  try {
    validatePattern(pattern)
  } catch (error) {
    assert.instance(error, InvalidPatternError)
    const e = error as InvalidPatternError
    assert.is(e.code, 'ERR_INVALID_PATTERN')
    assert.is(e.path, path)
    assert.is(e.message, path ? `${path}: ${reason}` : reason)
    // what validation rejects, compilation rejects too
    assert.throws(() => compilePattern(pattern), (thrown: unknown) => thrown instanceof InvalidPatternError)
    return
  }
  assert.unreachable(`expected ${JSON.stringify(pattern)} to be rejected`)
}

// exact values

test('exact strings, numbers, booleans and null match only the same JSON type', () => {
  yes({ s: ['orders'] }, { s: 'orders' })
  no({ s: ['orders'] }, { s: 'Orders' })
  yes({ n: [300] }, { n: 300 })
  no({ n: [300] }, { n: '300' })
  no({ s: ['300'] }, { s: 300 })
  yes({ b: [false] }, { b: false })
  no({ b: [false] }, { b: 'false' })
  yes({ z: [null] }, { z: null })
  no({ z: [null] }, { z: 'null' })
  no({ z: [null] }, {})
})

test('numbers compare as numbers: 300 matches 300.0 and -0 matches 0', () => {
  yes({ n: [300] }, JSON.parse('{"n": 300.0}'))
  yes({ n: [0] }, { n: -0 })
  yes({ n: [3.018e2] }, { n: 301.8 })
})

test('the empty string is a value like any other', () => {
  yes({ s: [''] }, { s: '' })
  no({ s: [''] }, { s: ' ' })
  no({ s: [''] }, {})
})

test('a value list matches when any of its values does', () => {
  yes({ env: ['dev', 'prod', 7, null] }, { env: 'prod' })
  yes({ env: ['dev', 'prod', 7, null] }, { env: null })
  no({ env: ['dev', 'prod', 7, null] }, { env: 'test' })
})

test('an IP address value matches the same address written another way', () => {
  yes({ ip: ['2001:db8::1'] }, { ip: '2001:0DB8:0:0:0:0:0:1' })
  yes({ ip: ['10.0.0.1'] }, { ip: '10.0.0.1' })
  no({ ip: ['10.0.0.1'] }, { ip: '10.0.0.2' })
})

test('field names are case-sensitive and an operator object is not a field', () => {
  no({ MY_KEY: ['v'] }, { my_key: 'v' })
})

// nesting and arrays

test('nested objects are followed key by key; an object leaf or a JSON string never matches', () => {
  yes({ detail: { state: { code: ['x'] } } }, { detail: { state: { code: 'x' } } })
  no({ detail: { state: ['x'] } }, { detail: { state: { code: 'x' } } })
  no({ detail: { k: ['v'] } }, { detail: '{"k": "v"}' })
})

test('nested keys and dotted keys are the same flattened field, either way round', () => {
  yes({ detail: { 'state.status': ['on'] } }, { detail: { state: { status: 'on' } } })
  yes({ detail: { state: { status: ['on'] } } }, { detail: { 'state.status': 'on' } })
  yes({ a: { b: { c: ['x'] } } }, { 'a.b': { c: 'x' } })
  no({ detail: { 'state.status': { s: ['on'] } } }, { detail: { state: { status: 'on' } } })
})

test('an array field matches when any element matches, at any depth of nesting', () => {
  yes({ resources: ['arn:2'] }, { resources: ['arn:1', 'arn:2'] })
  yes({ resources: ['arn:2'] }, { resources: [['arn:1'], ['arn:2']] })
  no({ resources: ['arn:3'] }, { resources: ['arn:1', 'arn:2'] })
  no({ resources: [null] }, { resources: [] })
})

test('arrays of objects: fields of one element combine, fields of different elements never do', () => {
  const event = {
    employees: [
      { first: 'John', last: 'Doe' },
      { first: 'Anna', last: 'Smith' },
      { first: 'Peter', last: 'Jones' },
    ],
  }
  yes({ employees: { first: ['Anna'] } }, event)
  yes({ employees: { first: ['Anna'], last: ['Smith'] } }, event)
  no({ employees: { first: ['Anna'], last: ['Jones'] } }, event)
  const nested = { employees: [[event.employees[0], event.employees[1]], [event.employees[2]]] }
  yes({ employees: { first: ['Anna'], last: ['Smith'] } }, nested)
  no({ employees: { first: ['Anna'], last: ['Jones'] } }, nested)
})

test('array consistency holds across nesting levels and for fields outside the array', () => {
  const event = {
    orders: [
      { id: 'a', lines: [{ sku: 'x', qty: 1 }, { sku: 'y', qty: 5 }] },
      { id: 'b', lines: [{ sku: 'x', qty: 5 }] },
    ],
    source: 'shop',
  }
  yes({ source: ['shop'], orders: { id: ['b'], lines: { sku: ['x'], qty: [5] } } }, event)
  no({ source: ['shop'], orders: { id: ['a'], lines: { sku: ['x'], qty: [5] } } }, event)
  yes({ orders: { id: ['a'], lines: { sku: ['y'] } } }, event)
})

test('a scalar element beside object elements is matched on its own; nested arrays keep to one element', () => {
  // The reference engine's answer (aws/event-ruler): the one-element rule binds object elements.
  yes({ x: [1], 'x.y': [2] }, { x: [1, { y: 2 }] })
  yes({ 'b.c': ['x'], b: ['y'] }, { b: [{ c: 'x' }, 'y'] })
  yes({ x: [{ exists: true }], 'x.y': [2] }, { x: [1, { y: 2 }] })
  no({ x: [{ exists: false }], 'x.y': [2] }, { x: [1, { y: 2 }] })
  no({ 'b.c': ['x'], b: ['z'] }, { b: [{ c: 'x' }, 'y'] })
  yes({ x: [1], 'x.y': [2] }, { x: [1, { y: 2 }], z: 0, 'x.y': 2 })
  no({ x: [{ exists: true }], 'x.y': [2] }, { x: [[1], { y: 2 }] })
  // 4 sits beside {y: 2} in the same element of the outer array: matched on its own.
  yes({ x: [{ exists: true }], 'x.y': [2] }, { x: [[1, 3], [4, { y: 2 }]] })
  no({ x: [{ exists: true }], 'x.y': [2] }, { x: [[1, 3], [{ y: 2 }]] })
})

test('a non-object event never matches', () => {
  const matcher = compilePattern({ x: [{ exists: false }] })
  for (const event of [null, undefined, 'x', 42, [], [{}], true]) assert.is(matcher(event), false)
  assert.is(matcher({}), true)
})

test('keys inherited from Object.prototype are not fields', () => {
  no({ constructor: [{ exists: true }] }, {})
  no({ toString: [{ exists: true }] }, {})
  yes({ constructor: ['x'] }, JSON.parse('{"constructor": "x"}'))
  yes(JSON.parse('{"__proto__": ["x"]}'), JSON.parse('{"__proto__": "x"}'))
  no(JSON.parse('{"__proto__": [{"exists": true}]}'), {})
})

// prefix, suffix, equals-ignore-case

test('prefix and suffix match strings only, the empty affix matches every string', () => {
  yes({ t: [{ prefix: '2022-07' }] }, { t: '2022-07-13' })
  no({ t: [{ prefix: '2022-08' }] }, { t: '2022-07-13' })
  yes({ f: [{ suffix: '.png' }] }, { f: 'a.png' })
  no({ f: [{ suffix: '.PNG' }] }, { f: 'a.png' })
  yes({ s: [{ prefix: '' }] }, { s: '' })
  no({ n: [{ prefix: '1' }] }, { n: 12 })
  no({ n: [{ suffix: '' }] }, { n: null })
})

test('equals-ignore-case compares each character with its lower and upper case only', () => {
  yes({ s: [{ 'equals-ignore-case': 'EventBridge' }] }, { s: 'EVENTBRIDGE' })
  yes({ s: [{ 'equals-ignore-case': '' }] }, { s: '' })
  no({ s: [{ 'equals-ignore-case': '' }] }, { s: 'x' })
  no({ s: [{ 'equals-ignore-case': 'k' }] }, { s: '\u212a' }) // Kelvin sign lower-cases to k, but is not K
  yes({ s: [{ 'equals-ignore-case': 'straße' }] }, { s: 'STRASSE' })
  yes({ s: [{ 'equals-ignore-case': 'été' }] }, { s: 'ÉTÉ' })
  no({ s: [{ 'equals-ignore-case': '1' }] }, { s: 1 })
})

test('prefix and suffix take equals-ignore-case', () => {
  yes({ s: [{ prefix: { 'equals-ignore-case': 'EventB' } }] }, { s: 'eVeNtBridge' })
  no({ s: [{ prefix: { 'equals-ignore-case': 'EventB' } }] }, { s: 'Event' })
  yes({ s: [{ suffix: { 'equals-ignore-case': '.png' } }] }, { s: 'image.PNG' })
  no({ s: [{ suffix: { 'equals-ignore-case': '.png' } }] }, { s: 'image.jpg' })
})

// wildcard

test('wildcard stars match any run of characters, including none and newlines', () => {
  const p = { f: [{ wildcard: '/Users/*/doc.txt' }] }
  yes(p, { f: '/Users/me/doc.txt' })
  yes(p, { f: '/Users/a/b/c/doc.txt' })
  yes(p, { f: '/Users//doc.txt' })
  no(p, { f: '/Users/me/doc.txt.bak' })
  yes({ f: [{ wildcard: '*' }] }, { f: '' })
  yes({ f: [{ wildcard: 'a*b*c' }] }, { f: 'a\nxb\nc' })
  no({ f: [{ wildcard: 'ab*ba' }] }, { f: 'aba' })
  no({ f: [{ wildcard: '' }] }, { f: 'x' })
  yes({ f: [{ wildcard: '' }] }, { f: '' })
  no({ f: [{ wildcard: '*' }] }, { f: 1 })
})

test('wildcard escapes: \\* is a literal star and \\\\ a literal backslash', () => {
  yes({ f: [{ wildcard: 'a\\*b' }] }, { f: 'a*b' })
  no({ f: [{ wildcard: 'a\\*b' }] }, { f: 'axb' })
  yes({ f: [{ wildcard: 'c:\\\\*' }] }, { f: 'c:\\dir' })
  yes({ f: [{ wildcard: '\\**' }] }, { f: '*anything' })
})

test('wildcard matching stays linear on adversarial values', () => {
  const matcher = compilePattern({ f: [{ wildcard: '*ab*ab*c' }] })
  const started = performance.now()
  assert.is(matcher({ f: 'ab'.repeat(50_000) }), false)
  assert.ok(performance.now() - started < 1000)
})

// anything-but

test('anything-but a value or a list excludes exactly those values', () => {
  yes({ s: [{ 'anything-but': 'initializing' }] }, { s: 'running' })
  no({ s: [{ 'anything-but': 'initializing' }] }, { s: 'initializing' })
  yes({ n: [{ 'anything-but': [100, 200] }] }, { n: 150 })
  no({ n: [{ 'anything-but': [100, 200] }] }, { n: 200.0 })
  yes({ n: [{ 'anything-but': 0 }] }, { n: 1 })
  yes({ s: [{ 'anything-but': ['a', 'b'] }] }, { s: 'c' })
})

test('anything-but needs the field present, and null or another type counts as something else', () => {
  no({ s: [{ 'anything-but': 'x' }] }, {})
  no({ s: [{ 'anything-but': 'x' }] }, { s: [] })
  no({ s: [{ 'anything-but': 'x' }] }, { s: { nested: 'y' } })
  yes({ s: [{ 'anything-but': 'x' }] }, { s: null })
  yes({ s: [{ 'anything-but': 'x' }] }, { s: 5 })
  yes({ n: [{ 'anything-but': [100] }] }, { n: '100' })
  yes({ s: [{ 'anything-but': { prefix: 'init' } }] }, { s: 12 })
})

test('anything-but on an array field matches when any element is not excluded', () => {
  yes({ s: [{ 'anything-but': 'a' }] }, { s: ['a', 'b'] })
  no({ s: [{ 'anything-but': 'a' }] }, { s: ['a', 'a'] })
})

test('anything-but takes prefix, suffix, equals-ignore-case and wildcard, single or listed', () => {
  no({ s: [{ 'anything-but': { prefix: 'init' } }] }, { s: 'initial' })
  yes({ s: [{ 'anything-but': { prefix: ['init', 'test'] } }] }, { s: 'post-init' })
  no({ s: [{ 'anything-but': { suffix: ['.txt', '.jpg'] } }] }, { s: 'a.jpg' })
  yes({ s: [{ 'anything-but': { suffix: '.txt' } }] }, { s: 'a.txt.bak' })
  no({ s: [{ 'anything-but': { 'equals-ignore-case': ['stopped'] } }] }, { s: 'Stopped' })
  yes({ s: [{ 'anything-but': { 'equals-ignore-case': 'stopped' } }] }, { s: 'running' })
  no({ s: [{ 'anything-but': { wildcard: '*/lib/*' } }] }, { s: 'a/lib/b' })
  yes({ s: [{ 'anything-but': { wildcard: ['*/lib/*', '*/bin/*'] } }] }, { s: 'a/src/b' })
  yes({ s: [{ 'anything-but': { wildcard: '' } }] }, { s: 'x' })
  no({ s: [{ 'anything-but': { wildcard: '' } }] }, { s: '' })
})

// numeric

test('numeric compares JSON numbers with =, <, <=, >, >= and two-sided ranges', () => {
  yes({ n: [{ numeric: ['=', 301.8] }] }, { n: 301.8 })
  no({ n: [{ numeric: ['=', 301.8] }] }, { n: 301.81 })
  yes({ n: [{ numeric: ['<', 10] }] }, { n: 9.999 })
  no({ n: [{ numeric: ['<', 10] }] }, { n: 10 })
  yes({ n: [{ numeric: ['<=', 10] }] }, { n: 10 })
  yes({ n: [{ numeric: ['>', 0] }] }, { n: 0.000001 })
  no({ n: [{ numeric: ['>', 0] }] }, { n: 0 })
  yes({ n: [{ numeric: ['>=', 0] }] }, { n: -0 })
  const range = { n: [{ numeric: ['>', 0, '<=', 5] }] }
  no(range, { n: 0 })
  yes(range, { n: 5 })
  no(range, { n: 5.000001 })
  yes({ n: [{ numeric: ['>=', -5, '<', -1] }] }, { n: -5 })
})

test('numeric ignores strings, null and numbers beyond ±5e11', () => {
  no({ n: [{ numeric: ['>', 100] }] }, { n: '300' })
  no({ n: [{ numeric: ['>', 100] }] }, { n: null })
  no({ n: [{ numeric: ['>', 100] }] }, { n: 6e11 })
  yes({ n: [{ numeric: ['>', 100] }] }, { n: 5e11 })
  no({ n: [{ numeric: ['<', 0] }] }, { n: -6e11 })
})

test('numeric on an array field matches when any element is in range', () => {
  yes({ n: [{ numeric: ['>', 10] }] }, { n: [1, 2, 30] })
  no({ n: [{ numeric: ['>', 10] }] }, { n: [1, 2, 3] })
})

// exists

test('exists true wants a leaf value: null and empty strings count, objects and empty arrays do not', () => {
  const p = { x: [{ exists: true }] }
  yes(p, { x: null })
  yes(p, { x: '' })
  yes(p, { x: [0] })
  no(p, {})
  no(p, { x: {} })
  no(p, { x: { y: 1 } })
  no(p, { x: [] })
})

test('exists false matches a missing field, an object, or an empty array, not null', () => {
  const p = { x: [{ exists: false }] }
  yes(p, {})
  yes(p, { x: { y: 1 } })
  yes(p, { x: [] })
  no(p, { x: null })
  no(p, { x: 'v' })
  yes({ a: { b: { c: [{ exists: false }] } } }, { a: { b: 'leaf' } })
})

test('exists false or a value: either way the field passes', () => {
  const p = { s: [{ 'anything-but': ['roses'] }, { exists: false }] }
  yes(p, {})
  yes(p, { s: 'tulips' })
  no(p, { s: 'roses' })
})

test('exists false inside an array of objects is checked in the elements already matched (event-ruler order)', () => {
  // fields are visited sorted by name: "e.bb" before "e.zz", so the absence is looked for in element 0 only
  yes({ e: { bb: ['1'], zz: [{ exists: false }] } }, { e: [{ bb: '1' }, { zz: 'z' }] })
  no({ e: { bb: ['1'], zz: [{ exists: false }] } }, { e: [{ bb: '1', zz: 'z' }] })
  // "e.aa" comes first, so its absence is checked across the whole array
  no({ e: { aa: [{ exists: false }], bb: ['1'] } }, { e: [{ bb: '1' }, { aa: 'z' }] })
})

// cidr

test('cidr matches IPv4 strings inside the block, from network to broadcast address', () => {
  const p = { ip: [{ cidr: '10.0.0.0/24' }] }
  yes(p, { ip: '10.0.0.0' })
  yes(p, { ip: '10.0.0.255' })
  no(p, { ip: '10.0.1.0' })
  no(p, { ip: '10.0.0.256' })
  no(p, { ip: 167772161 })
  yes({ ip: [{ cidr: '10.0.0.77/24' }] }, { ip: '10.0.0.1' }) // host bits in the pattern are masked off
  yes({ ip: [{ cidr: '0.0.0.0/0' }] }, { ip: '255.255.255.255' })
})

test('cidr matches IPv6 in any written form, and IPv4-mapped IPv6 as IPv4', () => {
  const p = { ip: [{ cidr: '2001:db8:1234:1a00::/64' }] }
  yes(p, { ip: '2001:0db8:1234:1a00:0000:0000:0000:0000' })
  yes(p, { ip: '2001:DB8:1234:1A00:FFFF:FFFF:FFFF:FFFF' })
  no(p, { ip: '2001:db8:1234:1a01::' })
  no(p, { ip: '10.0.0.1' })
  yes({ ip: [{ cidr: '10.0.0.0/8' }] }, { ip: '::ffff:a00:1' })
  no({ ip: [{ cidr: '::/0' }] }, { ip: '10.0.0.1' })
})

// $or

test('$or matches when any alternative matches, beside the other fields', () => {
  const p = { source: ['shop'], $or: [{ a: ['1'] }, { b: ['2'] }] }
  yes(p, { source: 'shop', b: '2' })
  no(p, { source: 'other', b: '2' })
  no(p, { source: 'shop', a: '2' })
})

test('$or nests at any level and inside alternatives', () => {
  const p = {
    detail: {
      $or: [{ x: [{ numeric: ['>', 0, '<=', 5] }] }, { $or: [{ y: ['b'] }, { z: { w: ['c'] } }] }],
    },
  }
  yes(p, { detail: { x: 3 } })
  yes(p, { detail: { y: 'b' } })
  yes(p, { detail: { z: { w: 'c' } } })
  no(p, { detail: { x: 0, y: 'a' } })
})

test('two $or groups multiply: each must be satisfied', () => {
  const p = { $or: [{ a: ['1'] }, { b: ['1'] }], detail: { $or: [{ c: ['1'] }, { d: ['1'] }] } }
  yes(p, { b: '1', detail: { c: '1' } })
  no(p, { b: '1', detail: { e: '1' } })
})

test('a field named again after $or replaces its value in every branch, as event-ruler does', () => {
  const p = { a: ['x'], $or: [{ a: ['y'] }, { b: ['z'] }] }
  yes(p, { a: 'y' })
  yes(p, { a: 'x', b: 'z' })
  no(p, { a: 'x' })
})

test('the compiled matcher is reusable and gives the same answers as matches()', () => {
  const pattern = { source: ['a', 'b'], detail: { n: [{ numeric: ['>', 1] }] } }
  const matcher = compilePattern(pattern)
  const events = [{ source: 'a', detail: { n: 2 } }, { source: 'c', detail: { n: 2 } }, { source: 'b', detail: { n: [0, 5] } }]
  for (let round = 0; round < 3; round++) {
    for (const event of events) assert.is(matcher(event), matches(pattern, event))
  }
})

// validation: one test per class of rejection, path and AWS's message

test('rejects a pattern that is not an object', () => {
  rejects(['a'], '', 'Filter is not an object')
  rejects(null, '', 'Filter is not an object')
  rejects('{"source": ["a"]}', '', 'Filter is not an object')
})

test('rejects empty objects and empty arrays', () => {
  rejects({}, '', 'Empty objects are not allowed')
  rejects({ detail: {} }, 'detail', 'Empty objects are not allowed')
  rejects({ detail: { amount: [] } }, 'detail.amount', 'Empty arrays are not allowed')
})

test('rejects leaf values that are not arrays', () => {
  rejects({ int: 42 }, 'int', '"int" must be an object or an array')
  rejects({ detail: { s: 'x' } }, 'detail.s', '"s" must be an object or an array')
  rejects({ n: null }, 'n', '"n" must be an object or an array')
})

test('rejects nested arrays and non-JSON values in a value list', () => {
  rejects({ a: [['x']] }, 'a', 'Match value must be String, number, true, false, or null')
  rejects({ a: [Number.NaN] }, 'a', 'Match value must be String, number, true, false, or null')
  rejects({ a: [undefined] }, 'a', 'Match value must be String, number, true, false, or null')
})

test('rejects unknown operators, including wrong case', () => {
  rejects({ a: [{ EXISTS: true }] }, 'a', 'Unrecognized match type EXISTS')
  rejects({ a: [{ contains: 'x' }] }, 'a', 'Unrecognized match type contains')
  rejects({ a: [{}] }, 'a', 'Match expression name not found')
})

test('rejects two operators in one match expression', () => {
  rejects({ a: [{ prefix: 'x', suffix: 'y' }] }, 'a', 'Only one key allowed in match expression')
  rejects({ a: [{ numeric: ['>', 1], prefix: 'x' }] }, 'a', 'Too many elements in numeric expression')
})

test('rejects prefix, suffix, equals-ignore-case and exists operands of the wrong type', () => {
  rejects({ t: [{ prefix: 123 }] }, 't', 'prefix match pattern must be a string')
  rejects({ t: [{ prefix: ['x'] }] }, 't', 'prefix match pattern must be a string')
  rejects({ t: [{ suffix: 1 }] }, 't', 'suffix match pattern must be a string')
  rejects({ t: [{ prefix: { 'equals-ignore-case': 1 } }] }, 't', 'equals-ignore-case match pattern must be a string')
  rejects({ t: [{ prefix: { wildcard: 'x' } }] }, 't', 'Unsupported prefix pattern: wildcard')
  rejects({ t: [{ 'equals-ignore-case': ['x'] }] }, 't', 'equals-ignore-case match pattern must be a string')
  rejects({ t: [{ exists: 'yes' }] }, 't', 'exists match pattern must be either true or false.')
  rejects({ t: [{ exactly: 1 }] }, 't', 'exact match pattern must be a string')
})

test('rejects bad CIDRs with AWS reasons', () => {
  rejects({ ip: [{ cidr: ['10.0.0.0/8'] }] }, 'ip', 'prefix match pattern must be a string')
  rejects({ ip: [{ cidr: '10.0.0.0' }] }, 'ip', "Malformed CIDR, one '/' required")
  rejects({ ip: [{ cidr: '10.0.0.0/x' }] }, 'ip', 'Malformed CIDR, mask bits must be an integer')
  rejects({ ip: [{ cidr: '10.0.0.0/-1' }] }, 'ip', 'Malformed CIDR, mask bits must not be negative')
  rejects({ ip: [{ cidr: 'xx.11.xx/8' }] }, 'ip', 'Nonstandard IP address: xx.11.xx')
  rejects({ ip: [{ cidr: '300.0.0.0/8' }] }, 'ip', 'Invalid IP address: 300.0.0.0')
  rejects({ ip: [{ cidr: '1:2:3:4:5:6:7:8:9/64' }] }, 'ip', 'Invalid IP address: 1:2:3:4:5:6:7:8:9')
  rejects({ ip: [{ cidr: '10.0.0.1/32' }] }, 'ip', 'IPv4 mask bits must be < 32')
  rejects({ ip: [{ cidr: '::1/128' }] }, 'ip', 'IPv6 mask bits must be < 128')
})

test('rejects bad wildcards: consecutive stars, stray escapes, non-strings, too much complexity', () => {
  rejects({ a: [{ wildcard: 'arn:aws:events:us-east-1:**:event-bus/*' }] }, 'a', 'Consecutive wildcard characters at pos 26')
  rejects({ a: [{ wildcard: 'a\\b' }] }, 'a', 'Invalid escape character at pos 2')
  rejects({ a: [{ wildcard: 'trailing\\' }] }, 'a', 'Invalid escape character at pos 9')
  rejects({ a: [{ wildcard: 123 }] }, 'a', 'wildcard match pattern must be a string')
  const tooComplex =
    'Rule is too complex - try using fewer wildcard characters or fewer repeating character sequences after a wildcard character'
  rejects({ a: [{ wildcard: '*:*:*:*:*:event-bus/*' }] }, 'a', tooComplex)
  rejects({ key: [{ wildcard: '*.bif' }, { wildcard: '*.tiff' }, { wildcard: '*.tif' }, { wildcard: '*.svs' }] }, 'key', tooComplex)
  validatePattern({ key: [{ wildcard: '*/datasync/*.bif' }, { wildcard: '*/datasync/*.tif' }] })
  validatePattern({ a: [{ wildcard: '/Users/*/dir/dir/dir/dir/dir/doc.txt' }] })
})

test('rejects anything-but operands AWS refuses', () => {
  rejects({ s: [{ 'anything-but': null }] }, 's', 'Value of anything-but must be an array or single string/number value.')
  rejects({ s: [{ 'anything-but': ['a', 1] }] }, 's', 'Inside anything but list, either all values are number or string, mixed type is not supported')
  rejects({ s: [{ 'anything-but': [] }] }, 's', 'Inside anything but list, either all values are number or string, mixed type is not supported')
  rejects({ s: [{ 'anything-but': ['a', null] }] }, 's', 'Inside anything but list, start|null|boolean is not supported.')
  rejects({ s: [{ 'anything-but': { exists: true } }] }, 's', 'Unsupported anything-but pattern: exists')
  rejects({ s: [{ 'anything-but': {} }] }, 's', 'Anything-But expression name not found')
  rejects({ s: [{ 'anything-but': { prefix: '' } }] }, 's', 'Null prefix/suffix not allowed')
  rejects({ s: [{ 'anything-but': { suffix: [1] } }] }, 's', 'prefix/suffix match pattern must be a string')
  rejects({ s: [{ 'anything-but': { prefix: { 'equals-ignore-case': 'x' } } }] }, 's', 'Value of anything-but must be an array or single string/number value.')
  rejects({ s: [{ 'anything-but': { 'equals-ignore-case': [1] } }] }, 's', 'Inside anything-but/equals-ignore-case list, number|start|null|boolean is not supported.')
  rejects({ s: [{ 'anything-but': { wildcard: 'a**' } }] }, 's', 'Consecutive wildcard characters at pos 2')
  rejects({ s: [{ 'anything-but': 1e12 }] }, 's', 'Value must be between -5.0E11 and 5.0E11, inclusive')
})

test('rejects numeric expressions with bad operators, operands or ranges', () => {
  rejects({ n: [{ numeric: 10 }] }, 'n', 'Value of numeric must be an array.')
  rejects({ n: [{ numeric: [] }] }, 'n', 'Invalid member in numeric match: ]')
  rejects({ n: [{ numeric: [10, '>'] }] }, 'n', 'Invalid member in numeric match: 10')
  rejects({ n: [{ numeric: ['!=', 1] }] }, 'n', 'Unrecognized numeric range operator: !=')
  rejects({ n: [{ numeric: ['=', '1'] }] }, 'n', 'Value of equals must be numeric')
  rejects({ n: [{ numeric: ['=', 1, 2] }] }, 'n', 'Too many elements in numeric expression')
  rejects({ n: [{ numeric: ['<', 1, '>', 0] }] }, 'n', 'Too many elements in numeric expression')
  rejects({ n: [{ numeric: ['>', 0, '<'] }] }, 'n', 'Value of < must be numeric')
  rejects({ n: [{ numeric: ['>', 0, '>', 0] }] }, 'n', 'Bad numeric range operator: >')
  rejects({ n: [{ numeric: ['>', 0, 5] }] }, 'n', 'Bad value in numeric range: 5')
  rejects({ n: [{ numeric: ['>', 0, '<', 5, 6] }] }, 'n', 'Too many terms in numeric range expression')
  rejects({ n: [{ numeric: ['>', 5, '<', 5] }] }, 'n', 'Bottom must be less than top')
  rejects({ n: [{ numeric: ['>=', 6, '<=', 5] }] }, 'n', 'Bottom must be less than top')
  rejects({ n: [{ numeric: ['>', 0.0000001] }] }, 'n', 'Only values upto 6 decimals are supported')
  rejects({ n: [{ numeric: ['<', 6e11] }] }, 'n', 'Value must be between -5.0E11 and 5.0E11, inclusive')
})

test('rejects $or that is not a list of at least two objects, and reserved names inside it', () => {
  rejects({ $or: [{ a: ['1'] }] }, '$or', 'There must have at least 2 Objects in $or relationship.')
  rejects({ detail: { $or: [] } }, 'detail.$or', 'There must have at least 2 Objects in $or relationship.')
  rejects({ $or: { a: ['1'] } }, '$or', 'It must be an Array followed with $or.')
  rejects({ $or: [{ a: ['1'] }, 'b'] }, '$or[1]', 'Only JSON object is allowed in array of $or relationship.')
  rejects({ $or: [{ a: ['1'] }, {}] }, '$or[1]', 'Empty objects are not allowed')
  rejects({ $or: [{ a: ['1'] }, { numeric: ['1'] }] }, '$or[1].numeric', 'numeric is Ruler reserved fieldName which cannot be used inside $or.')
  rejects({ $or: [{ a: ['1'] }, { b: { x: [{ prefix: 1 }] } }] }, '$or[1].b.x', 'prefix match pattern must be a string')
})

test('rejects rules with more than 256 fields in one branch', () => {
  const pattern: Record<string, string[]> = {}
  for (let i = 0; i <= 256; i++) pattern[`f${i}`] = ['x']
  rejects(pattern, '', 'Size of rule exceeds max value of 256')
})

test('one-sided ranges are exclusive at the numeric limit too', () => {
  no({ a: [{ numeric: ['>', 5e11] }] }, { a: 5e11 })
  no({ a: [{ numeric: ['<', -5e11] }] }, { a: -5e11 })
  yes({ a: [{ numeric: ['>=', 5e11] }] }, { a: 5e11 })
  yes({ a: [{ numeric: ['<=', -5e11] }] }, { a: -5e11 })
})

test('an empty list inside anything-but is refused, naming the path', () => {
  for (const op of ['prefix', 'suffix', 'wildcard', 'equals-ignore-case']) {
    rejects({ detail: { s: ['x', { 'anything-but': { [op]: [] } }] } }, 'detail.s', `Empty arrays are not allowed: anything-but ${op} needs at least one value`)
  }
})

test('$or may expand to 1,000 combinations, not more', () => {
  const ors = (field: string, n: number) => ({ $or: Array.from({ length: n }, (_, i) => ({ [field]: [String(i)] })) })
  validatePattern({ ...ors('a', 10), x: ors('c', 10), y: ors('d', 10) })
  assert.throws(() => validatePattern({ ...ors('a', 11), x: ors('c', 10), y: ors('d', 10) }), /Rule is too complex: \$or expands to more than 1000 combinations/)
})

test('accepts what AWS accepts: exactly, prefix equals-ignore-case, numeric bounds, exact numbers beyond the numeric range', () => {
  validatePattern({ a: [{ exactly: 'x' }], b: [{ suffix: { 'equals-ignore-case': 'X' } }] })
  validatePattern({ n: [{ numeric: ['>=', -5e11, '<=', 5e11] }], m: [{ numeric: ['=', 0.000001] }] })
  validatePattern({ account: [123456789012345, 1e300, 0.123456789] })
  yes({ a: [{ exactly: '10.0.0.1' }] }, { a: '10.0.0.1' })
})

test.run()
