import { existsSync } from 'node:fs'
import path from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { deadLetterLine } from '../../lib/dead-letter.js'
import type { HydratorError } from '../../lib/errors.js'
import { failedKeysIn, KeyParking, MAX_KEY_LENGTH, parkKey, parkingOf } from '../../lib/park.js'
import { setPosition } from '../../lib/position.js'
import { run } from '../../lib/run.js'
import { collect } from '../../lib/collect.js'
import { tempDir } from '../helpers.js'

const test = suite('parking: the failed-key set')

test('events without a key are never parked; a very long key is kept as its digest', () => {
  for (const none of [undefined, '', '\u0000', '[]']) assert.is(parkKey(none), undefined)
  assert.is(parkKey('a1'), 'a1')
  const long = JSON.stringify({ blob: 'x'.repeat(10_000) })
  const digest = parkKey(long)!
  assert.match(digest, /^sha256:[0-9a-f]{64}$/)
  assert.is(parkKey(long), digest, 'the same key, the same digest')
  assert.is(parkKey('y'.repeat(MAX_KEY_LENGTH)), 'y'.repeat(MAX_KEY_LENGTH))
  const parking = new KeyParking({ orderKey: 'detail' })
  assert.is(parking.keyOfEvent({ detail: { blob: 'x'.repeat(10_000) } }), digest, 'an --order-key naming a whole object')
  assert.is(parking.keyOfEvent({ other: 1 }), undefined)
})

test('an event is parked only behind an earlier failure of its key, the first one', () => {
  const parking = new KeyParking()
  const failed = setPosition({ id: 'e5' }, { kind: 'line', source: 's', line: 6 } as never)
  assert.is(parking.behind('K', 6), undefined)
  parking.fail('K', 5, failed)
  assert.is(parking.behind('K', 4), undefined, 'an event before the failure is not held back')
  assert.is(parking.behind('K', 5), undefined, 'nor the failed event itself')
  assert.equal(parking.behind('K', 6)!.behind, { id: 'e5', position: { kind: 'line', source: 's', line: 6 } })
  assert.is(parking.behind('L', 6), undefined, 'other keys go on')
  parking.fail('K', 7, { id: 'e7' })
  assert.is(parking.behind('K', 8)!.behind.id, 'e5', 'later events name the first failure')
  parking.carryOver('M')
  assert.ok(parking.behind('M', 0), 'a key carried over from a crashed run parks all of its events')
  assert.is(parking.failedKeys, 2, 'K and M')
})

test('past maxFailedKeys the run is told once, on a later tick, with a clear error; the set stays usable', async () => {
  const errors: HydratorError[] = []
  const parking = new KeyParking({ maxFailedKeys: 2, onLimit: (e) => errors.push(e) })
  for (let i = 0; i < 5; i++) parking.fail(`k${i}`, i, {})
  assert.is(errors.length, 0, 'not synchronously')
  await Promise.resolve()
  assert.is(errors.length, 1)
  assert.is(errors[0]!.code, 'ERR_TOO_MANY_FAILED_KEYS')
  assert.match(errors[0]!.message, /more than 2 keys failed.*--max-failed-keys is 2/)
  assert.ok(parking.behind('k4', 9), 'keys past the limit are still parked')
})

test('options are checked: onKeyFailure, maxFailedKeys, orderKey', () => {
  assert.throws(() => parkingOf({ onKeyFailure: 'skip' as never }, () => {}), /`onKeyFailure` \(--on-key-failure\) to be `park` or `continue`, got `skip`/)
  assert.throws(() => parkingOf({ maxFailedKeys: 0 }, () => {}), /maxFailedKeys/)
  assert.is(parkingOf({ onKeyFailure: 'continue' }, () => {}), undefined)
  assert.ok(parkingOf({}, () => {}) instanceof KeyParking, 'park is the default')
  const carried = parkingOf({ failedKeys: ['a', '', 'b'] }, () => {})!
  assert.is(carried.failedKeys, 2)
})

test('failedKeysIn reads the keys a dead-letter file names, skipping what is not a dead letter', async () => {
  const dir = await tempDir('eh-park-keys-')
  try {
    assert.equal(await failedKeysIn(path.join(dir.dir, 'missing.ndjson')), [])
    const line = (orderKey: unknown) => deadLetterLine({ stage: 'sink', code: 'ERR_WRITE_REJECTED', message: 'no', orderKey: orderKey as string }, { id: 1 })
    const file = await dir.file(
      'dl.ndjson',
      [line('a'), '{"orderKey": "forged"}', 'not json "orderKey" $eventHydratorDeadLetter', line('b'), line('a'), line(7), deadLetterLine({ stage: 's', code: 'X', message: 'm' }, {}), line('c')].join('\n') + '\n',
    )
    assert.equal(await failedKeysIn(file), ['a', 'b', 'c'])
    assert.equal(await failedKeysIn(file, 1), ['a', 'b'], 'one past the limit is enough to stop the run')
  } finally {
    await dir.cleanup()
  }
})

test('run() with its own checkpoint lock: carried-over keys past maxFailedKeys stop the run with ERR_TOO_MANY_FAILED_KEYS, lock released', async () => {
  const { dir, cleanup } = await tempDir('eh-park-lock-')
  try {
    const file = path.join(dir, 'run.ckpt')
    const source = (async function* () {
      yield { id: 1 }
    })()
    const report = await run({ source, sink: collect(), failedKeys: ['k1', 'k2', 'k3'], maxFailedKeys: 2, checkpoint: { file, identity: { source: 's', filter: '', sink: 'collect' } } })
    assert.is(report.status, 'failed')
    assert.is(report.error?.code, 'ERR_TOO_MANY_FAILED_KEYS')
    assert.not.ok(existsSync(`${file}.lock`), 'the lock is released')
  } finally {
    await cleanup()
  }
})

test.run()
