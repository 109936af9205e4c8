// Where a DynamoDB read stands: the resume cursor per segment (checked, taken from a position, moved
// past an event) and the item keys positions carry.
import { HydratorError } from '../errors.js'
import type { Position } from '../types.js'
import { setOwn } from './codec.js'
import type { DynamoKey } from './client.js'

/**
 * Where reading stands, per segment: a key to go on after (the LastEvaluatedKey of the last page
 * fully handed out), `null` for a segment read to its end; a segment missing has not begun.
 * A Query is segment 0.
 */
export type DynamoCursor = { readonly [segment: number]: DynamoKey | null }

/** @internal The cursor a `resumeFrom` position carries, checked for shape. */
export function cursorOfPosition(position: Position | undefined): DynamoCursor | undefined {
  if (position === undefined) return undefined
  const cursor = position.kind === 'dynamo' ? position.cursor : undefined
  if (!cursor || typeof cursor !== 'object' || Array.isArray(cursor)) {
    throw new HydratorError(
      'ERR_CHECKPOINT_MISMATCH',
      `cannot resume from \`${JSON.stringify(position)}\`: it is not the position of an event read from DynamoDB (it has no cursor)`,
    )
  }
  return cursor as DynamoCursor
}

/** @internal Checks a cursor against the segments this source reads. */
export function validateCursor(cursor: DynamoCursor | undefined, owned: readonly number[]): Map<number, DynamoKey | null> {
  const out = new Map<number, DynamoKey | null>()
  if (cursor === undefined) return out
  if (!cursor || typeof cursor !== 'object' || Array.isArray(cursor)) {
    throw new HydratorError('ERR_INVALID_OPTION', `expected \`resume\` to be { [segment]: ExclusiveStartKey | null }, got \`${String(cursor)}\``)
  }
  for (const [k, v] of Object.entries(cursor)) {
    const segment = Number(k)
    if (!owned.includes(segment)) {
      throw new HydratorError(
        'ERR_CHECKPOINT_MISMATCH',
        `the resume cursor has segment \`${k}\`, but this source reads segments ${owned.join(', ')}: resume with the same segment, totalSegments and parallelism`,
      )
    }
    if (v !== null && (typeof v !== 'object' || Array.isArray(v))) {
      throw new HydratorError('ERR_INVALID_OPTION', `expected the resume key of segment ${k} to be a key object or null, got \`${String(v)}\``)
    }
    out.set(segment, v as DynamoKey | null)
  }
  return out
}

/** @internal The primary key of an item, in key-schema order. */
export function keyOfItem(item: Record<string, unknown>, keyAttributes: readonly string[]): DynamoKey {
  const key: Record<string, unknown> = {}
  for (const name of keyAttributes) setOwn(key, name, item[name])
  return key
}

/** @internal Whether two keys are the same (binary values compared by content). */
export function sameKey(a: DynamoKey, b: DynamoKey): boolean {
  const names = Object.keys(a)
  return names.length === Object.keys(b).length && names.every((n) => valueEquals(a[n], b[n]))
}

function valueEquals(a: unknown, b: unknown): boolean {
  if (a instanceof Uint8Array && b instanceof Uint8Array) return Buffer.from(a).equals(b)
  return a === b
}

/**
 * @internal An event's cursor: `base` (every segment's ExclusiveStartKey before the event's page)
 * with `segment` moved past `at`, or at its start when there is none.
 */
export function cursorAt(base: Record<number, DynamoKey | null | undefined>, segment: number, at: DynamoKey | null | undefined) {
  return at === undefined ? withoutSegment(base, segment) : { ...base, [segment]: at }
}

function withoutSegment(base: Record<number, DynamoKey | null | undefined>, segment: number): Record<number, DynamoKey | null> {
  const out = { ...base }
  delete out[segment]
  return out as Record<number, DynamoKey | null>
}
