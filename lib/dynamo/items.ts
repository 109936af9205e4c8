// One event as a DynamoDB write: the mapped row turned into an item or key, its size as DynamoDB
// counts it, and the problems that keep it from being sent. Pure: no client, no SDK.
import type { AttributeValue } from '@aws-sdk/client-dynamodb'
import { errorMessage } from '../errors.js'
import type { RowWrite } from '../mapping.js'
import { setOwn, toAttributeMap, toAttributeValue } from './codec.js'
import type { DynamoKey } from './client.js'

/** DynamoDB's item size limit: 400 KB. */
export const MAX_ITEM_BYTES = 400 * 1024

/** One event as a DynamoDB write. */
export interface DynamoWrite {
  readonly op: 'put' | 'delete'
  /** The whole item, for a put. */
  readonly item: Record<string, unknown>
  /** The item's primary key. */
  readonly key: DynamoKey
  /** What is sent: the item (put) or the key (delete) as DynamoDB AttributeValues; empty when there is a `problem`. */
  readonly attributes: Record<string, AttributeValue>
  /** A string form of the key, for grouping and ordering. */
  readonly keyString: string
  readonly version?: number
  /** The item's size as DynamoDB counts it, in bytes. */
  readonly sizeBytes: number
  /** Why it cannot be sent at all (too large, a value DynamoDB cannot hold). */
  readonly problem?: { readonly code: string; readonly message: string }
}

/** @internal Turns a mapped row into a DynamoDB write, with its size and any problem that keeps it from being sent. */
export function toWrite(row: RowWrite, keyAttributes: readonly string[]): DynamoWrite {
  // Keys are data: an attribute may be called __proto__ (setOwn), and values are marshalled here,
  // not by lib-dynamodb, which loses or rejects own `__proto__` and `constructor` keys.
  const item: Record<string, unknown> = {}
  for (const [name, value] of Object.entries(row.row)) if (value !== null && value !== undefined) setOwn(item, name, value)
  const key: Record<string, unknown> = {}
  for (const k of keyAttributes) setOwn(key, k, row.row[k])
  let sizeBytes = 0
  let attributes: Record<string, AttributeValue> = {}
  let problem: DynamoWrite['problem']
  const keyString = row.keyString
  try {
    sizeBytes = itemSizeBytes(row.op === 'delete' ? key : item)
    if (row.op === 'upsert') {
      if (sizeBytes > MAX_ITEM_BYTES) {
        problem = {
          code: 'ERR_ITEM_TOO_LARGE',
          message: `item ${keyString} is ${sizeBytes} bytes, over DynamoDB's limit of ${MAX_ITEM_BYTES} (400 KB)`,
        }
      }
    }
    if (!problem) {
      attributes = toAttributeMap(row.op === 'delete' ? key : item)
      if (row.version !== undefined) toAttributeValue(row.version)
    }
  } catch (error) {
    problem = { code: 'ERR_MAPPING', message: `item ${keyString}: ${errorMessage(error)}` }
  }
  return {
    op: row.op === 'delete' ? 'delete' : 'put',
    item,
    key,
    attributes,
    keyString,
    ...(row.version !== undefined ? { version: row.version } : {}),
    sizeBytes,
    ...(problem ? { problem } : {}),
  }
}

/**
 * The size of an item as DynamoDB counts it (attribute names plus values: UTF-8 strings, about one
 * byte per two significant digits plus one for numbers, 3 bytes plus one per element for lists and
 * maps). Throws for a value DynamoDB cannot hold (undefined in a list, NaN, a function).
 *
 * @example
 * itemSizeBytes({ id: 'a', n: 12 }) // 2 + 1 + 1 + 2
 */
export function itemSizeBytes(item: Readonly<Record<string, unknown>>): number {
  let size = 0
  for (const [name, value] of Object.entries(item)) {
    if (value === undefined) continue
    size += utf8Length(name) + valueSize(value, name)
  }
  return size
}

function valueSize(value: unknown, path: string): number {
  switch (typeof value) {
    case 'string':
      return utf8Length(value)
    case 'number':
      if (!Number.isFinite(value)) throw new Error(`\`${path}\` is ${value}, which DynamoDB cannot store`)
      return numberSize(String(value))
    case 'bigint':
      return numberSize(value.toString())
    case 'boolean':
      return 1
    case 'object': {
      if (value === null) return 1
      if (value instanceof Uint8Array) return value.byteLength
      if (Array.isArray(value)) {
        let s = 3
        value.forEach((v, i) => {
          if (v === undefined) throw new Error(`\`${path}[${i}]\` is undefined, which DynamoDB cannot store`)
          s += 1 + valueSize(v, `${path}[${i}]`)
        })
        return s
      }
      if (value instanceof Set) {
        let s = 0
        for (const v of value) s += valueSize(v, path)
        return s
      }
      const proto = Object.getPrototypeOf(value)
      if (proto !== Object.prototype && proto !== null) {
        throw new Error(`\`${path}\` is a ${(value as object).constructor?.name ?? 'class instance'}, expected plain JSON values`)
      }
      let s = 3
      for (const [k, v] of Object.entries(value)) {
        if (v === undefined) throw new Error(`\`${path}.${k}\` is undefined, which DynamoDB cannot store`)
        s += 1 + utf8Length(k) + valueSize(v, `${path}.${k}`)
      }
      return s
    }
    default:
      throw new Error(`\`${path}\` is a ${typeof value}, which DynamoDB cannot store`)
  }
}

function numberSize(text: string): number {
  // Significant digits: no sign, exponent, point, leading or trailing zeroes.
  let digits = text.replace(/^-/, '').replace(/e.*$/i, '').replace('.', '').replace(/^0+/, '').replace(/0+$/, '')
  if (digits === '') digits = '0'
  return Math.ceil(digits.length / 2) + 1
}

function utf8Length(s: string): number {
  return Buffer.byteLength(s, 'utf8')
}
