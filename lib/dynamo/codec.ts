import type { AttributeValue } from '@aws-sdk/client-dynamodb'

// DynamoDB items to and from AttributeValues, as @aws-sdk/lib-dynamodb does with its default
// options, except that every key is data. The SDK's own marshaller assigns `map[key] = ...`, so an
// own `__proto__` key of an event (JSON.parse makes one) sets the prototype of the map and the
// attribute is lost or the request is rejected ("Supplied AttributeValue is empty"), and it tells
// objects from class instances by `value.constructor.name`, so an own `constructor` key fails with
// "Unsupported type passed". The SDK's JSON protocol itself writes and reads such keys correctly,
// so the DynamoDB sink and sources send plain client-dynamodb commands with values from here.

/** Sets `obj[key] = value` as an own data property, also for a key called `__proto__`. */
export function setOwn(obj: Record<string, unknown>, key: string, value: unknown): void {
  if (key === '__proto__') Object.defineProperty(obj, key, { value, writable: true, enumerable: true, configurable: true })
  else obj[key] = value
}

function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value)
  return proto === Object.prototype || proto === null
}

function typeName(value: unknown): string {
  if (value === null) return 'null'
  if (typeof value !== 'object') return typeof value
  return (Object.getPrototypeOf(value) as { constructor?: { name?: string } } | null)?.constructor?.name ?? 'object'
}

function numberAttribute(n: number): AttributeValue {
  if (!Number.isFinite(n)) throw new Error(`Special numeric value ${n} is not allowed`)
  // As the SDK: beyond 2^53 a JS number has lost digits; a bigint keeps them.
  if (n > Number.MAX_SAFE_INTEGER) throw new Error(`Number ${n} is greater than Number.MAX_SAFE_INTEGER. Use a bigint.`)
  if (n < Number.MIN_SAFE_INTEGER) throw new Error(`Number ${n} is lesser than Number.MIN_SAFE_INTEGER. Use a bigint.`)
  return { N: String(n) }
}

function binaryOf(value: unknown): Uint8Array | undefined {
  if (value instanceof Uint8Array) return value
  if (ArrayBuffer.isView(value)) return new Uint8Array(value.buffer, value.byteOffset, value.byteLength)
  if (value instanceof ArrayBuffer) return new Uint8Array(value)
  return undefined
}

function setAttribute(set: Set<unknown>): AttributeValue {
  if (set.size === 0) throw new Error('Pass a non-empty set')
  const values = [...set]
  if (values.every((v) => typeof v === 'string')) return { SS: values as string[] }
  if (values.every((v) => typeof v === 'number' || typeof v === 'bigint')) {
    return { NS: values.map((v) => (typeof v === 'number' ? numberAttribute(v).N! : String(v))) }
  }
  const binaries = values.map(binaryOf)
  if (binaries.every((b) => b !== undefined)) return { BS: binaries as Uint8Array[] }
  throw new Error('Only Number Set (NS), Binary Set (BS) or String Set (SS) are allowed.')
}

/**
 * One JS value as a DynamoDB AttributeValue: strings, numbers (safe integers or finite), bigints,
 * booleans, null, binary (Uint8Array, Buffer, other ArrayBuffer views), arrays (L), Sets (SS, NS,
 * BS) and plain objects (M, own enumerable keys, `__proto__` and `constructor` included). Throws
 * for undefined, functions, class instances and an empty Set, as the SDK does.
 *
 * @example
 * toAttributeValue(JSON.parse('{"__proto__":{"x":1}}')) // { M: { __proto__: { M: { x: { N: '1' } } } } }, the key an own property
 */
export function toAttributeValue(value: unknown): AttributeValue {
  switch (typeof value) {
    case 'string':
      return { S: value }
    case 'number':
      return numberAttribute(value)
    case 'bigint':
      return { N: value.toString() }
    case 'boolean':
      return { BOOL: value }
    case 'object': {
      if (value === null) return { NULL: true }
      if (Array.isArray(value)) return { L: value.map(toAttributeValue) }
      const binary = binaryOf(value)
      if (binary) return { B: binary }
      if (value instanceof Set) return setAttribute(value)
      if (isPlainObject(value)) return { M: toAttributeMap(value as Record<string, unknown>) }
      break
    }
  }
  if (value === undefined) throw new Error('Pass options.removeUndefinedValues=true to remove undefined values from map/array/set.')
  throw new Error(`Unsupported type passed: a ${typeName(value)}`)
}

/** An item (or key, or ExpressionAttributeValues) as a map of AttributeValues; see {@link toAttributeValue}. */
export function toAttributeMap(record: Readonly<Record<string, unknown>>): Record<string, AttributeValue> {
  const out: Record<string, AttributeValue> = {}
  for (const key of Object.keys(record)) setOwn(out, key, toAttributeValue(record[key]))
  return out
}

function numberValue(text: string): number | bigint {
  const n = Number(text)
  // As the SDK: a whole number beyond 2^53 comes back as a bigint, so no digit is lost.
  if ((n > Number.MAX_SAFE_INTEGER || n < Number.MIN_SAFE_INTEGER) && Number.isFinite(n)) {
    try {
      return BigInt(text)
    } catch {
      throw new Error(`${text} can't be converted to BigInt. Set options.wrapNumbers to get string value.`)
    }
  }
  return n
}

/**
 * One DynamoDB AttributeValue as a JS value, as lib-dynamodb unmarshalls it by default (numbers as
 * numbers, or bigints beyond 2^53; sets as Sets; binary as Uint8Array), with every map key an own
 * property, `__proto__` included.
 *
 * @example
 * fromAttributeValue({ M: { __proto__: { S: 'x' } } }) // an object whose own key `__proto__` is 'x'
 */
export function fromAttributeValue(attribute: AttributeValue): unknown {
  const a = attribute as unknown as Record<string, unknown>
  if (a.S !== undefined) return a.S
  if (a.N !== undefined) return numberValue(a.N as string)
  if (a.BOOL !== undefined) return Boolean(a.BOOL)
  if (a.NULL !== undefined) return null
  if (a.M !== undefined) return fromAttributeMap(a.M as Record<string, AttributeValue>)
  if (a.L !== undefined) return (a.L as AttributeValue[]).map(fromAttributeValue)
  if (a.B !== undefined) return a.B
  if (a.SS !== undefined) return new Set(a.SS as string[])
  if (a.NS !== undefined) return new Set((a.NS as string[]).map(numberValue))
  if (a.BS !== undefined) return new Set(a.BS as Uint8Array[])
  throw new Error(`Unsupported type passed: ${Object.keys(a)[0] ?? 'an empty AttributeValue'}`)
}

/** A map of AttributeValues (an item, a key) as a plain object; see {@link fromAttributeValue}. */
export function fromAttributeMap(map: Readonly<Record<string, AttributeValue>>): Record<string, unknown> {
  const out: Record<string, unknown> = {}
  for (const key of Object.keys(map)) {
    const attribute = map[key]
    if (!attribute || typeof attribute !== 'object') {
      // @aws-sdk/client-dynamodb 3.1162 (@smithy/core's JSON deserializer) answers an item's
      // top-level attribute called __proto__ with no value; one inside a map arrives intact.
      const why = key === '__proto__' ? ': the AWS SDK drops the value of a top-level attribute called __proto__' : ''
      throw new Error(`attribute \`${key}\` came back without a value${why}`)
    }
    setOwn(out, key, fromAttributeValue(attribute))
  }
  return out
}
