// Events as whole items: what the DynamoDB sink writes without a mapping. The item is the event
// itself; its key is the table's key attributes, read from the event's own top-level properties and
// checked against the types the table declares for them. Pure: no client, no SDK.
import type { TableDescription } from '@aws-sdk/client-dynamodb'
import { HydratorError } from '../errors.js'
import type { RowWrite } from '../mapping.js'
import { keyNames } from './client.js'

/** A key attribute of a table: its name and the type its AttributeDefinition declares. */
export interface KeyAttribute {
  readonly name: string
  readonly type: 'S' | 'N' | 'B'
}

const TYPE_NAMES = { S: 'a string', N: 'a number', B: 'binary' } as const

/** @internal The key attributes of a table description, partition key first, with their types. */
export function keyAttributesOf(table: TableDescription): KeyAttribute[] {
  const types = new Map((table.AttributeDefinitions ?? []).map((d) => [d.AttributeName, d.AttributeType]))
  return keyNames(table.KeySchema).map((name) => ({ name, type: (types.get(name) ?? 'S') as KeyAttribute['type'] }))
}

/**
 * A string for a list of key values, unique per key; the same for the values of an event and for
 * those DynamoDB hands back (numbers beyond 2^53 come back as bigints, binary as Uint8Array).
 *
 * @example
 * keyStringOf(['a', 3]) // '["a",3]'
 */
export function keyStringOf(values: readonly unknown[]): string {
  return JSON.stringify(values, (_, v: unknown) => (typeof v === 'bigint' ? { $n: v.toString() } : v))
}

function describe(value: unknown): string {
  if (value === null) return 'null'
  if (Array.isArray(value)) return 'an array'
  if (value instanceof Uint8Array) return 'binary'
  if (typeof value === 'object') return 'an object'
  if (typeof value === 'string') return value === '' ? 'an empty string' : 'a string'
  if (typeof value === 'bigint') return 'a number'
  return `a ${typeof value}`
}

/** DynamoDB's limits on the size of a key value: 2048 bytes for a partition key, 1024 for a sort key. */
const MAX_KEY_BYTES = [2048, 1024] as const

/**
 * @internal Why DynamoDB would refuse a key value, with the code the sink reports when it does:
 * ERR_WRITE_REJECTED for another type than the table declares (or empty), ERR_ITEM_TOO_LARGE for a
 * value over its size limit. `position` 0 is the partition key, 1 the sort key.
 */
export function keyProblem(value: unknown, attribute: KeyAttribute, position: number): { code: string; message: string } | undefined {
  if (!keyFits(value, attribute.type)) {
    return { code: 'ERR_WRITE_REJECTED', message: `the key attribute \`${attribute.name}\` is not ${TYPE_NAMES[attribute.type]} (${attribute.type}) as the table declares` }
  }
  const bytes = typeof value === 'string' ? Buffer.byteLength(value) : ArrayBuffer.isView(value) ? value.byteLength : 0
  const max = MAX_KEY_BYTES[position === 0 ? 0 : 1]
  if (bytes > max) {
    return { code: 'ERR_ITEM_TOO_LARGE', message: `the key attribute \`${attribute.name}\` is ${bytes} bytes, over DynamoDB's limit of ${max} for a ${position === 0 ? 'partition' : 'sort'} key` }
  }
  return undefined
}

/** @internal Whether a key value is of the type the table declares for it (DynamoDB refuses the item otherwise). */
export function keyFits(value: unknown, type: KeyAttribute['type']): boolean {
  switch (type) {
    case 'S':
      return typeof value === 'string' && value !== ''
    case 'N':
      return (typeof value === 'number' && Number.isFinite(value)) || typeof value === 'bigint'
    case 'B':
      return ArrayBuffer.isView(value) && value.byteLength > 0
  }
}

/**
 * @internal An event as a put of the whole event: the key values in key schema order. Throws
 * ERR_MAPPING naming the attribute and the table for an event that lacks a key attribute or holds
 * one of another type than the table declares (S, N, B), or an empty one (DynamoDB refuses those).
 */
export function documentRow(event: unknown, key: readonly KeyAttribute[], tableName: string): RowWrite {
  if (!event || typeof event !== 'object' || Array.isArray(event)) {
    throw new HydratorError('ERR_MAPPING', `the event is ${describe(event)}, not an object: it cannot be an item of table \`${tableName}\``)
  }
  const values: unknown[] = new Array(key.length)
  for (let i = 0; i < key.length; i++) {
    const { name, type } = key[i]!
    // Own properties only: an inherited `constructor` is not an attribute of the event.
    const value = Object.prototype.hasOwnProperty.call(event, name) ? (event as Record<string, unknown>)[name] : undefined
    if (value === undefined || value === null) {
      throw new HydratorError(
        'ERR_MAPPING',
        `the event has no \`${name}\`, the ${i === 0 ? 'partition' : 'sort'} key of table \`${tableName}\` (${TYPE_NAMES[type]}); map one with --column ${name}=<json path> and --key`,
      )
    }
    if (!keyFits(value, type)) {
      throw new HydratorError(
        'ERR_MAPPING',
        `\`${name}\` of the event is ${describe(value)}, but table \`${tableName}\` declares its ${i === 0 ? 'partition' : 'sort'} key \`${name}\` as ${type} (${TYPE_NAMES[type]}${type === 'N' ? '' : ', not empty'})`,
      )
    }
    values[i] = value
  }
  return { op: 'upsert', row: event as Record<string, unknown>, key: values, keyString: keyStringOf(values) }
}
