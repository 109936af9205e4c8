// The exact JSON text an event was read as, carried beside it (never inside it) so that a sink that
// writes JSON lines can write the event as it was read instead of serializing it again: the same
// bytes (numbers past double precision and number spellings survive), and one JSON.stringify less
// per event. Only run() turns it on, and only when nothing between the source and the sink can
// change an event (see SourceCapabilities.useRawText).
import { positionOf, setPosition } from './position.js'
import { TextEvent } from './text-event.js'
import { globalSlot } from './util/slot.js'

// As positions: in a slot beside the event (util/slot.ts). Objects it cannot be added to carry no
// text and are serialized as usual.
const store = globalSlot<string>('event-hydrator.raw-text', false)

/** Records the JSON text `event` was parsed from (a source that was asked to keep it). */
export function setRawText<T>(event: T, text: string): T {
  if (typeof event === 'object' && event !== null) store.set(event, text)
  return event
}

/** The JSON text `event` was read as, when its source kept it; undefined otherwise. */
export function rawTextOf(event: unknown): string | undefined {
  if (event instanceof TextEvent) return event.text
  return typeof event === 'object' && event !== null ? store.get(event) : undefined
}

/** The event itself: a {@link TextEvent} parsed from its text (with its position), anything else as it is. */
export function eventOf(event: unknown): unknown {
  if (!(event instanceof TextEvent)) return event
  const text = event.text
  const value = JSON.parse(text) as unknown
  setRawText(value, text)
  const position = positionOf(event)
  return position ? setPosition(value, position) : value
}

export { TextEvent }
