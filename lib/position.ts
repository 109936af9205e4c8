import type { Position } from './types.js'

// Positions live beside events, not in them: users' events stay exactly as stored, and a WeakMap
// entry goes away with its event, so memory never grows with the number of events.
const positions = new WeakMap<object, Position>()

/**
 * The source position of an event (file and line, DynamoDB key, OpenSearch sort values), or
 * undefined for events that did not come from a built-in source.
 *
 * @example
 * for await (const event of readJsonLines('events.ndjson')) console.log(positionOf(event)?.line)
 */
export function positionOf(event: unknown): Position | undefined {
  return typeof event === 'object' && event !== null ? positions.get(event) : undefined
}

/**
 * Records where an event came from. Sources call it for every event they yield; stages that make
 * new objects from an event (map) carry the position over.
 *
 * @example
 * yield setPosition(event, { source: 'my-store', key: id })
 */
export function setPosition<T>(event: T, position: Position | undefined): T {
  if (position && typeof event === 'object' && event !== null) positions.set(event, position)
  return event
}

/** `events.ndjson:42`, `dynamo:events {"pk":"a"}`: a position as a short text for messages. */
export function formatPosition(position: Position | undefined): string {
  if (!position) return '(unknown position)'
  const where = position.file ?? position.source
  if (position.line !== undefined) return `${where}:${position.line}`
  if (position.key !== undefined) {
    const part = position.part !== undefined ? ` #${position.part}` : ''
    return `${where} ${JSON.stringify(position.key)}${part}`
  }
  if (position.sort !== undefined) return `${where} ${JSON.stringify(position.sort)}`
  if (position.index !== undefined) return `${where}[${position.index}]`
  return where
}
