// A --transform module: its default export maps one event. Return undefined to drop the event,
// an array to fan out into several.
export default function transform(event) {
  if (event['detail-type'] === 'OrderShipped' && !event.detail?.aggregateId) return undefined
  return { ...event, detail: { ...event.detail, amountCents: Math.round((event.detail?.amount ?? 0) * 100) } }
}
