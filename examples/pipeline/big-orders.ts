// A pipeline of your own, built from the parts: the big orders of a source, reshaped, into any sink.
// chain() is a typed pipe(): the event type flows from the filter to the map to the sink.
import { chain, filter, map, type Sink, type Source } from 'event-hydrator'

export interface OrderEvent {
  readonly id: string
  readonly source: string
  readonly 'detail-type': string
  readonly detail: { readonly aggregateId: string; readonly amount: number }
}

/** One row per big order (500 or more), amounts in cents. */
export function bigOrders<R>(source: Source<OrderEvent>, sink: Sink<{ orderId: string; cents: number }>): Promise<R> {
  return chain(
    source,
    filter<OrderEvent>({ source: ['orders'], 'detail-type': ['OrderPlaced'], detail: { amount: [{ numeric: ['>=', 500] }] } }),
    map((e: OrderEvent) => ({ orderId: e.detail.aggregateId, cents: Math.round(e.detail.amount * 100) })),
    sink,
  ) as Promise<R>
}
