import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { InvalidPatternError } from '../../lib/errors.js'
import { compilePrefilter } from '../../lib/pattern/index.js'

const test = suite('the raw-line prefilter')

function prefilter(pattern: unknown): (line: string) => boolean {
  const compiled = compilePrefilter(pattern)
  assert.type(compiled, 'function', `expected a prefilter for ${JSON.stringify(pattern)}`)
  return compiled!
}

test('skips a line without the required JSON string and keeps one with it', () => {
  const mayMatch = prefilter({ source: ['orders'] })
  assert.is(mayMatch('{"source":"payments"}'), false)
  assert.is(mayMatch('{"source":"orders"}'), true)
  assert.is(mayMatch('{"source": "orders" }'), true)
  // the bare word is not enough: the quoted JSON string must be there
  assert.is(mayMatch('{"source":"orders-v2"}'), false)
})

test('the anchor is the longest text a field requires alone, as UTF-8 bytes; none when every field allows several', () => {
  const anchor = (pattern: unknown) => {
    const a = compilePrefilter(pattern)?.anchor
    return a && Buffer.from(a).toString('utf8')
  }
  assert.is(anchor({ source: ['orders'], 'detail-type': ['OrderPlaced'] }), '"OrderPlaced"')
  assert.is(anchor({ source: ['orders', 'refunds'], 'detail-type': ['OrderPlaced'] }), '"OrderPlaced"')
  assert.is(anchor({ detail: { city: ['Zürich'] } }), '"Zürich"')
  assert.equal(compilePrefilter({ detail: { city: ['Zürich'] } })?.anchor, Buffer.from('"Zürich"'), 'bytes, not UTF-16')
  assert.is(anchor({ source: ['orders', 'refunds'] }), undefined)
  assert.is(anchor({ $or: [{ source: ['orders'] }, { 'detail-type': ['OrderPlaced'] }] }), undefined)
})

test('keeps every line that holds a backslash, since escapes can spell anything', () => {
  const mayMatch = prefilter({ source: ['orders'] })
  assert.is(mayMatch('{"source":"\\u006frders"}'), true)
  assert.is(mayMatch('{"source":"payments","note":"a\\/b"}'), true)
})

test('a list of values needs any one of them', () => {
  const mayMatch = prefilter({ source: ['orders', 'refunds'] })
  assert.is(mayMatch('{"source":"refunds"}'), true)
  assert.is(mayMatch('{"source":"payments"}'), false)
})

test('every required field must be present: source and detail-type both', () => {
  const mayMatch = prefilter({ source: ['orders'], 'detail-type': ['OrderPlaced'], detail: { amount: [{ numeric: ['>', 1] }] } })
  assert.is(mayMatch('{"source":"orders","detail-type":"OrderPlaced"}'), true)
  assert.is(mayMatch('{"source":"orders","detail-type":"OrderShipped"}'), false)
})

test('prefix, suffix and wildcard give their fixed text with its quote', () => {
  assert.is(prefilter({ r: [{ prefix: 'us-' }] })('{"r":"eu-west-1","x":"plus-us-"}'), false)
  assert.is(prefilter({ r: [{ prefix: 'us-' }] })('{"r":"us-east-1"}'), true)
  assert.is(prefilter({ f: [{ suffix: '.png' }] })('{"f":"a.png.bak"}'), false)
  assert.is(prefilter({ f: [{ wildcard: '*/lib/*' }] })('{"f":"a/src/b"}'), false)
  assert.is(prefilter({ f: [{ wildcard: '*/lib/*' }] })('{"f":"a/lib/b"}'), true)
})

test('a required value that JSON can only write escaped requires a backslash', () => {
  const mayMatch = prefilter({ s: ['say "hi"'] })
  assert.is(mayMatch('{"s":"say hi"}'), false)
  assert.is(mayMatch('{"s":"say \\"hi\\""}'), true)
})

test('$or: text all alternatives require is required, and alternatives join into one clause', () => {
  const mayMatch = prefilter({ source: ['orders'], $or: [{ 'detail-type': ['A'] }, { 'detail-type': ['B'] }] })
  assert.is(mayMatch('{"source":"orders","detail-type":"B"}'), true)
  assert.is(mayMatch('{"source":"orders","detail-type":"C"}'), false)
  assert.is(mayMatch('{"source":"other","detail-type":"A"}'), false)
})

test('no prefilter when an alternative or field requires no fixed text', () => {
  assert.is(compilePrefilter({ n: [{ numeric: ['>', 1] }] }), undefined)
  assert.is(compilePrefilter({ s: [{ 'anything-but': 'x' }] }), undefined)
  assert.is(compilePrefilter({ s: [{ 'equals-ignore-case': 'x' }] }), undefined)
  assert.is(compilePrefilter({ s: [{ exists: true }] }), undefined)
  assert.is(compilePrefilter({ s: ['x', { exists: false }] }), undefined)
  assert.is(compilePrefilter({ s: ['x', 300] }), undefined)
  assert.is(compilePrefilter({ ip: ['10.0.0.1'] }), undefined)
  assert.is(compilePrefilter({ $or: [{ a: ['x'] }, { b: [{ numeric: ['>', 0] }] }] }), undefined)
})

test('noBackslash only spares the scan: for a line without a backslash the answer is the same', () => {
  const mayMatch = compilePrefilter({ source: ['orders'], 'detail-type': ['OrderPlaced'] })!
  for (const line of ['{"source":"orders","detail-type":"OrderPlaced"}', '{"source":"users","detail-type":"OrderPlaced"}', '{"source":"orders"}']) {
    assert.is(mayMatch(line, true), mayMatch(line), line)
  }
  // The caller vouches for it: told wrongly, an escaped line would be skipped.
  assert.is(mayMatch('{"source":"\\u006frders","detail-type":"OrderPlaced"}'), true)
})

test('rejects an invalid pattern like compilePattern does', () => {
  assert.throws(() => compilePrefilter({ s: 'x' }), (error: unknown) => error instanceof InvalidPatternError)
})

test.run()
