// Near names for a table that was not found: small edit distances (swaps of neighbours included) and
// shared beginnings, best first, at most three.
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { editDistance, nearNames } from '../../lib/util/near.js'

const test = suite('near table names')

test('counts insertions, deletions, substitutions and swaps of neighbours as one edit each', () => {
  assert.equal(
    [['user', 'users'], ['users', 'user'], ['usres', 'users'], ['usera', 'users'], ['users', 'users'], ['ab', 'ba'], ['', 'abc']].map(([a, b]) => editDistance(a!, b!)),
    [1, 1, 1, 1, 0, 1, 3],
  )
  assert.is(editDistance('orders', 'customers', 2), 3, 'stops past the limit')
})

test('suggests at most three names, nearest first, case-insensitively, with names one begins the other', () => {
  assert.equal(nearNames('user', ['users', 'orders', 'user_roles', 'usr', 'Users2']), ['users', 'usr', 'Users2'])
  assert.equal(nearNames('Order', ['orders', 'order_items', 'customers']), ['orders', 'order_items'])
  assert.equal(nearNames('abc', ['abd', 'xyz', 'axx']), ['abd'], 'short names take one edit only')
  assert.equal(nearNames('events', ['customers', 'orders']), [])
})

test.run()
