// Sort keys as strings: every value a path reads is encoded so that comparing two encodings with `<`
// gives the documented order. One string comparison per pair in the sort and the merge, and a key
// that is written to a spill file as it is.
import { HydratorError } from '../errors.js'
import { compilePath } from '../util/json-path.js'

// One leading character per type; the order of these characters is the order across types.
const TAG_NULL = 'a'
const TAG_FALSE = 'b'
const TAG_TRUE = 'c'
const TAG_NUMBER = 'd'
const TAG_TIME = 'e'
const TAG_STRING = 'f'
const TAG_JSON = 'g'

const f64 = new Float64Array(1)
const u32 = new Uint32Array(f64.buffer)
const LITTLE = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1

/** A double as 16 hex digits whose string order is numeric order (-0 is 0). */
function sortableNumber(n: number): string {
  f64[0] = n === 0 ? 0 : n
  let hi = u32[LITTLE ? 1 : 0]!
  let lo = u32[LITTLE ? 0 : 1]!
  if (hi & 0x80000000) {
    hi = ~hi >>> 0
    lo = ~lo >>> 0
  } else hi = (hi | 0x80000000) >>> 0
  return hi.toString(16).padStart(8, '0') + lo.toString(16).padStart(8, '0')
}

// 2024-05-01T10:00:00.123456+02:00, 2024-05-01 10:00Z, 2024-05-01 (a date alone is its UTC midnight).
const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?([Zz]|[+-]\d{2}(?::?\d{2})?)?)?$/

/**
 * The instant of an ISO-8601 timestamp as `[epoch ms, nanoseconds within the ms]`, or undefined when
 * the text is not one (or names an impossible date). A timestamp without an offset is read as UTC,
 * so the order never depends on the machine's time zone.
 */
export function isoInstant(text: string): [number, number] | undefined {
  if (text.length < 10 || text.length > 40) return undefined
  const m = ISO.exec(text)
  if (!m) return undefined
  const [y, mo, d, h = 0, mi = 0, s = 0] = [m[1], m[2], m[3], m[4], m[5], m[6]].map((v) => (v === undefined ? undefined : Number(v))) as number[]
  if (mo! < 1 || mo! > 12 || d! < 1 || d! > 31 || h > 24 || mi > 59 || s > 60) return undefined
  const day = Date.UTC(y!, mo! - 1, d!)
  if (new Date(day).getUTCDate() !== d) return undefined
  const frac = (m[7] ?? '').padEnd(9, '0')
  let offsetMin = 0
  const tz = m[8]
  if (tz && tz !== 'Z' && tz !== 'z') {
    const digits = tz.slice(1).replace(':', '')
    offsetMin = (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2) || 0)) * (tz[0] === '-' ? -1 : 1)
  }
  const ms = day + ((h * 60 + mi - offsetMin) * 60 + s) * 1000 + Number(frac.slice(0, 3))
  return [ms, Number(frac.slice(3))]
}

// Strings compare by code point: UTF-16 code units do not (U+FFFD sorts after a surrogate pair's
// U+D83D), so the units from U+D800 up are moved: surrogates above U+E000..U+FFFF.
const HIGH = /[\uD800-\uFFFF]/
function codePointOrder(text: string): string {
  if (!HIGH.test(text)) return text
  let out = ''
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    out += c < 0xd800 ? text[i] : String.fromCharCode(c >= 0xe000 ? c - 0x800 : c + 0x2000)
  }
  return out
}

/**
 * Encodes one value. `last` is false when more values follow: a string is then escaped and closed
 * so that `"a"` then `"b"` never equals `"ab"` then `""`.
 */
export function encodeValue(value: unknown, last = true): string {
  switch (typeof value) {
    case 'number':
      return TAG_NUMBER + sortableNumber(value)
    case 'boolean':
      return value ? TAG_TRUE : TAG_FALSE
    case 'bigint':
      return TAG_NUMBER + sortableNumber(Number(value))
    case 'string': {
      const instant = isoInstant(value)
      if (instant) return TAG_TIME + sortableNumber(instant[0]) + String(instant[1]).padStart(6, '0')
      return TAG_STRING + closed(codePointOrder(value), last)
    }
    default:
      if (value === null) return TAG_NULL
      if (value instanceof Date) return TAG_TIME + sortableNumber(value.getTime()) + '000000'
      return TAG_JSON + closed(codePointOrder(JSON.stringify(value) ?? ''), last)
  }
}

function closed(text: string, last: boolean): string {
  return last ? text : text.replace(/\u0000/g, '\u0000\u0001') + '\u0000\u0000'
}

/** The order of two values as `--order-by` sorts them: negative, 0 or positive. */
export function compareValues(a: unknown, b: unknown): number {
  const x = encodeValue(a)
  const y = encodeValue(b)
  return x < y ? -1 : x > y ? 1 : 0
}

/** Reads an event's sort key: its encoding, or undefined when a path has no value. */
export type KeyReader = (event: unknown) => string | undefined

/**
 * Compiles `--order-by` paths (`time`, `detail.sequence,id`, or a list) into a key reader. A path
 * whose value is missing (undefined) makes the whole key missing; `null` is a value.
 *
 * @example
 * const key = orderKey('detail.sequence,id')
 * key({ id: 'a', detail: { sequence: 2 } }) < key({ id: 'b', detail: { sequence: 10 } }) // true
 */
export function orderKey(paths: string | readonly string[]): KeyReader {
  const list = parseOrderBy(paths)
  const getters = list.map((p) => compilePath(p))
  if (getters.length === 1) {
    const get = getters[0]!
    return (event) => {
      const v = get(event)
      return v === undefined ? undefined : encodeValue(v)
    }
  }
  return (event) => {
    let key = ''
    for (let i = 0; i < getters.length; i++) {
      const v = getters[i]!(event)
      if (v === undefined) return undefined
      key += encodeValue(v, i === getters.length - 1)
    }
    return key
  }
}

/** `'detail.sequence,id'` or a list of paths, checked: a list of paths. */
export function parseOrderBy(paths: string | readonly string[]): string[] {
  const given = typeof paths === 'string' ? [paths] : Array.isArray(paths) ? paths : undefined
  const list = given?.flatMap((p) => (typeof p === 'string' ? p.split(',') : [p])).map((p) => (typeof p === 'string' ? p.trim() : p))
  if (!list || list.length === 0 || list.some((p) => typeof p !== 'string' || p === '')) {
    throw new HydratorError('ERR_INVALID_OPTION', `expected \`orderBy\` (--order-by) to be JSON paths such as \`time\` or \`detail.sequence,id\`, got \`${String(paths)}\``)
  }
  for (const p of list as string[]) compilePath(p)
  return list as string[]
}
