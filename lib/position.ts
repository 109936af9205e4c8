import { TextEvent } from './text-event.js'
import { globalSlot } from './util/slot.js'
import { stringifyTagged } from './util/tagged-json.js'

/** What every position has: its kind (the source family) and the source's URI or path. */
interface PositionBase {
  /** The source family: `line`, `element`, `file`, `dynamo`, `opensearch`, or a plugin's own. */
  readonly kind: string
  /** The URI or path of the source, e.g. `events.ndjson` or `dynamo:events`. */
  readonly source: string
}

/** A line of an NDJSON file (or stdin). */
export interface LinePosition extends PositionBase {
  readonly kind: 'line'
  readonly file: string
  /** 1-based line number. */
  readonly line: number
  /** Byte offset of the start of the line in the (uncompressed) file. */
  readonly offset: number
  /** Byte offset just past the line: where a resumed read starts. Absent where reading cannot resume after it. */
  readonly next?: number
}

/** An element of one JSON array. */
export interface ElementPosition extends PositionBase {
  readonly kind: 'element'
  readonly file: string
  /** 0-based index of the element: a resumed read starts at the next one. */
  readonly index: number
}

/** One file of a folder of one-event files. */
export interface FilePosition extends PositionBase {
  readonly kind: 'file'
  readonly file: string
  /** 0-based index of the file in the folder, in natural order: a resumed read starts at the next one. */
  readonly index: number
}

/** An item of a DynamoDB table (or an event inside an item that holds several). */
export interface DynamoPosition extends PositionBase {
  readonly kind: 'dynamo'
  /** The item's primary key. */
  readonly key: unknown
  /** Index of the event inside an item that holds several (unwrap). */
  readonly part?: number
  /** The page of a paged read (`pages=`): a resume goes on in this page, after the item. */
  readonly page?: number
  /**
   * Where every segment stands just after this event (a `DynamoCursor`: each one's
   * ExclusiveStartKey); absent on an item that could not be read.
   */
  readonly cursor?: unknown
}

/** A document of an OpenSearch index. */
export interface OpenSearchPosition extends PositionBase {
  readonly kind: 'opensearch'
  /** The document's `_id`. */
  readonly key: unknown
  /** Its sort values: a resumed read goes on `search_after` them. */
  readonly sort?: readonly unknown[]
}

/** An event of an object in S3: the whole object, a line of it (NDJSON) or an element (one JSON array). */
export interface S3Position extends PositionBase {
  readonly kind: 's3'
  /** The object's key. */
  readonly key: string
  /** 1-based line number, for NDJSON objects. */
  readonly line?: number
  /** Byte offset of the line's start in the (uncompressed) object. */
  readonly offset?: number
  /** Byte offset just past the line: where a resumed read starts. */
  readonly next?: number
  /** 0-based index of the element, for an object that is one JSON array. */
  readonly index?: number
}

/**
 * The position kinds by name. A plugin adds its own by declaration merging, so its sources' positions
 * are typed too: `declare module 'event-hydrator' { interface PositionKinds { 'my-store': MyPosition } }`.
 */
export interface PositionKinds {
  line: LinePosition
  element: ElementPosition
  file: FilePosition
  dynamo: DynamoPosition
  opensearch: OpenSearchPosition
  s3: S3Position
}

/**
 * Where an event came from: enough to find it again and to resume just after it. A tagged union on
 * `kind`; each source family resumes from its own kind, and checkpoints keep positions as JSON
 * without knowing any source.
 */
export type Position = PositionKinds[keyof PositionKinds]

/**
 * True when a source can resume just after this position (so a checkpoint may stand there): a line
 * with its `next` offset, an element, a file, a DynamoDB event with its cursor, an OpenSearch
 * document with its sort values. A plugin's kinds are taken to be resumable.
 */
export function isResumePoint(position: Position | undefined): boolean {
  if (!position) return false
  switch (position.kind) {
    case 'line':
      return position.next !== undefined
    case 'dynamo':
      return position.cursor !== undefined
    case 'opensearch':
      return position.sort !== undefined
    default:
      return true
  }
}

// Positions ride on events in a slot (util/slot.ts): beside the event, never inside it.
const store = globalSlot<Position>('event-hydrator.positions', true)

/**
 * The source position of an event (file and line, DynamoDB key, OpenSearch sort values), or
 * undefined for events that did not come from a built-in source.
 *
 * @example
 * for await (const event of readJsonLines('events.ndjson')) console.log(positionOf(event)?.line)
 */
export function positionOf(event: unknown): Position | undefined {
  if (typeof event !== 'object' || event === null) return undefined
  if (event instanceof TextEvent) return event.position as Position | undefined
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
  if (position && typeof event === 'object' && event !== null) {
    if (event instanceof TextEvent) event.position = position
    else store.set(event, position)
  }
  return event
}

/** `events.ndjson:42`, `export.json[7]`, `dynamo:events {"pk":"a"} #2`: a position as a short text for messages. */
export function formatPosition(position: Position | undefined): string {
  if (!position) return '(unknown position)'
  switch (position.kind) {
    case 'line':
      // Line 0 is the file as a whole (one that could not be opened).
      return position.line > 0 ? `${position.file}:${position.line}` : position.file
    case 'element':
      return `${position.file}[${position.index}]`
    case 'file':
      return position.file
    case 'dynamo':
      return `${position.source} ${stringifyTagged(position.key)}${position.part !== undefined ? ` #${position.part}` : ''}`
    case 'opensearch':
      return `${position.source} ${position.sort !== undefined ? stringifyTagged(position.sort) : stringifyTagged(position.key)}`
    case 's3':
      return `${position.key}${position.line !== undefined ? `:${position.line}` : position.index !== undefined ? `[${position.index}]` : ''}`
    default:
      return (position as { source?: string }).source ?? '(unknown position)'
  }
}
