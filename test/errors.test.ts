// HydratorError across copies of the module: the bundled command and a plugin that imports the
// package each load their own errors.ts, and the command must still know a plugin's errors.
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { errorCode, HydratorError, InvalidPatternError, isConfigError } from '../lib/errors.js'

const test = suite('errors')

test('instanceof, isConfigError and errorCode hold for errors made by another copy of the module', async () => {
  // A URL of its own makes a second instance of the module, as a second bundle would.
  const other = (await import(new URL('../lib/errors.ts?copy=2', import.meta.url).href)) as typeof import('../lib/errors.js')
  assert.is.not(other.HydratorError, HydratorError)
  const theirs = new other.HydratorError('ERR_TARGET_NOT_FOUND', 'no table')
  assert.ok(theirs instanceof HydratorError)
  assert.ok(theirs instanceof Error)
  assert.not.ok(theirs instanceof InvalidPatternError)
  assert.ok(isConfigError(theirs), 'exit code 2')
  assert.is(errorCode(theirs), 'ERR_TARGET_NOT_FOUND')
  const pattern = new other.InvalidPatternError('detail.amount', 'bad')
  assert.ok(pattern instanceof InvalidPatternError)
  assert.ok(pattern instanceof HydratorError)
  assert.ok(new HydratorError('ERR_OUTPUT', 'x') instanceof other.HydratorError)
  assert.not.ok(new Error('plain') instanceof HydratorError)
  assert.not.ok(Object.assign(new Error('look-alike'), { code: 'ERR_OUTPUT', name: 'HydratorError' }) instanceof HydratorError)
  const nothing: unknown = null
  assert.not.ok(nothing instanceof HydratorError)
})

test.run()
