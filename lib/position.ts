import type { Position } from './types.js'

// Positions ride on events as a non-enumerable symbol property: invisible to JSON.stringify,
// Object.keys, spread and deepStrictEqual, gone with the event (memory stays flat), and several times
// cheaper per event than a WeakMap entry. Frozen events fall back to a WeakMap.
const POSITION = Symbol.for('event-hydrator.position')
const frozen = new WeakMap<object, Position>()
const descriptor: PropertyDescriptor = { value: undefined, writable: true, configurable: true, enumerable: false }

/**
 * The source position of an event (file and line, DynamoDB key, OpenSearch sort values), or
 * undefined for events that did not come from a built-in source.
 *
 * @example
 * for await (const event of readJsonLines('events.ndjson')) console.log(positionOf(event)?.line)
 */
export function positionOf(event: unknown): Position | undefined {
  if (typeof event !== 'object' || event === null) return undefined
  return ((event as Record<symbol, Position | undefined>)[POSITION]) ?? frozen.get(event)
}

/**
 * Records where an event came from. Sources call it for every event they yield; stages that make
 * new objects from an event (map) carry the position over.
 *
 * @example
 * yield setPosition(event, { source: 'my-store', key: id })
 */
export function setPosition<T>(event: T, position: Position | undefined): T {
  if (position && typeof event === 'object' && event !== null) {
    if (Object.prototype.hasOwnProperty.call(event, POSITION)) (event as Record<symbol, Position>)[POSITION] = position
    else if (Object.isExtensible(event)) {
      descriptor.value = position
      Object.defineProperty(event, POSITION, descriptor)
    } else frozen.set(event, position)
  }
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
