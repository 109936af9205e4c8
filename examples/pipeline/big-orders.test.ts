// The unit test of that pipeline: events in memory, collect() as the sink, no file and no server.
// Run it: npx tsx node_modules/uvu/bin.js examples/pipeline
import { collect, type CollectResult } from 'event-hydrator'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { bigOrders, type OrderEvent } from './big-orders.js'

const order = (id: string, amount: number, type = 'OrderPlaced'): OrderEvent => ({ id, source: 'orders', 'detail-type': type, detail: { aggregateId: `o-${id}`, amount } })

test('keeps the orders of 500 or more, in order, as rows in cents', async () => {
  async function* events() {
    yield* [order('1', 499.99), order('2', 500), order('3', 1250.5), order('4', 900, 'OrderShipped')]
  }
  const result = await bigOrders<CollectResult<{ orderId: string; cents: number }>>(events(), collect())
  assert.equal(result.events, [
    { orderId: 'o-2', cents: 50000 },
    { orderId: 'o-3', cents: 125050 },
  ])
})

test.run()
