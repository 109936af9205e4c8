import { stringifyTagged } from './util/tagged-json.js'

/** Where an event came from: enough to find it again (file and line, a key, a sort value). */
export interface Position {
  /** The URI or path of the source, e.g. `events.ndjson` or `dynamo:events`. */
  readonly source: string
  /** The file the event was read from, for file sources. */
  readonly file?: string
  /** 1-based line number in `file` (NDJSON), or 1-based element index in a JSON array. */
  readonly line?: number
  /** Byte offset of the start of the line in the (uncompressed) file, for resuming. */
  readonly offset?: number
  /** Byte offset just past the line: where a resumed read starts. */
  readonly next?: number
  /** 0-based index of the element in a JSON array, or of the file in a folder. */
  readonly index?: number
  /** The primary key of a DynamoDB item, the `_id` of an OpenSearch document. */
  readonly key?: unknown
  /** OpenSearch sort values (search_after). */
  readonly sort?: readonly unknown[]
  /** Index of the event inside one stored item that holds several (DynamoDB unwrap). */
  readonly part?: number
  /**
   * What the source needs to go on just after this event, as JSON (DynamoDB: the ExclusiveStartKey
   * of every segment, a `DynamoCursor`). Checkpoints keep it; sources take it back as `resumeFrom`.
   */
  readonly cursor?: unknown
}


// Positions ride on events as a private class field, stamped on by the "return override" of a base
// constructor: invisible to JSON.stringify, Object.keys, Reflect.ownKeys, spread and deepStrictEqual,
// gone with the event (memory stays flat), and about ten times cheaper per event than the
// non-enumerable symbol property (Object.defineProperty) it replaces. Objects a private field cannot
// be added to fall back to a WeakMap. Every copy of this module in a process (a plugin bundling its
// own event-hydrator, say) shares the first one's field through a global registry, so each sees the
// positions the others set.
interface PositionStore {
  get(event: object): Position | undefined
  set(event: object, position: Position): void
}

function makeStore(): PositionStore {
  class Stamp {
    constructor(event: object) {
      return event
    }
  }
  class Positioned extends Stamp {
    #position: Position
    constructor(event: object, position: Position) {
      super(event)
      this.#position = position
    }
    static get(event: object): Position | undefined {
      return #position in event ? (event as Positioned).#position : fallback.get(event)
    }
    static set(event: object, position: Position): void {
      if (#position in event) (event as Positioned).#position = position
      else {
        try {
          new Positioned(event, position)
        } catch {
          fallback.set(event, position)
        }
      }
    }
  }
  const fallback = new WeakMap<object, Position>()
  return { get: Positioned.get, set: Positioned.set }
}

const REGISTRY = Symbol.for('event-hydrator.positions')
const store: PositionStore = ((globalThis as Record<symbol, PositionStore | undefined>)[REGISTRY] ??= makeStore())

/**
 * The source position of an event (file and line, DynamoDB key, OpenSearch sort values), or
 * undefined for events that did not come from a built-in source.
 *
 * @example
 * for await (const event of readJsonLines('events.ndjson')) console.log(positionOf(event)?.line)
 */
export function positionOf(event: unknown): Position | undefined {
  if (typeof event !== 'object' || event === null) return undefined
  return store.get(event)
}

/**
 * Records where an event came from. Sources call it for every event they yield; stages that make
 * new objects from an event (map) carry the position over.
 *
 * @example
 * yield setPosition(event, { source: 'my-store', key: id })
 */
export function setPosition<T>(event: T, position: Position | undefined): T {
  if (position && typeof event === 'object' && event !== null) store.set(event, position)
  return event
}

/** `events.ndjson:42`, `dynamo:events {"pk":"a"}`: a position as a short text for messages. */
export function formatPosition(position: Position | undefined): string {
  if (!position) return '(unknown position)'
  const where = position.file ?? position.source
  if (position.line !== undefined) return `${where}:${position.line}`
  if (position.key !== undefined) {
    const part = position.part !== undefined ? ` #${position.part}` : ''
    return `${where} ${stringifyTagged(position.key)}${part}`
  }
  if (position.sort !== undefined) return `${where} ${stringifyTagged(position.sort)}`
  if (position.index !== undefined) return `${where}[${position.index}]`
  return where
}
