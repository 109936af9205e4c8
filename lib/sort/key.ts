// Sort keys as strings: every value a path reads is encoded so that comparing two encodings with `<`
// gives the documented order. One comparison per pair in the sort and the merge (of the strings, or
// of their UTF-16 code units where runs hold them: the same order), and no escaping in spill files.
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
const HEX = Array.from('0123456789abcdef', (c) => c.charCodeAt(0))

// The two halves of the last number encoded, filled by sortableBits: the callers make one string of
// all the digits at once (not sixteen small strings and their concatenation).
let hi = 0
let lo = 0
function sortableBits(n: number): void {
  f64[0] = n === 0 ? 0 : n
  hi = u32[LITTLE ? 1 : 0]!
  lo = u32[LITTLE ? 0 : 1]!
  if (hi & 0x80000000) {
    hi = ~hi >>> 0
    lo = ~lo >>> 0
  } else hi = (hi | 0x80000000) >>> 0
}

/** A double as 16 hex digits whose string order is numeric order (-0 is 0), after `tag`. */
function sortableNumber(tag: number, n: number): string {
  sortableBits(n)
  // prettier-ignore
  return String.fromCharCode(tag,
    HEX[hi >>> 28]!, HEX[(hi >>> 24) & 15]!, HEX[(hi >>> 20) & 15]!, HEX[(hi >>> 16) & 15]!, HEX[(hi >>> 12) & 15]!, HEX[(hi >>> 8) & 15]!, HEX[(hi >>> 4) & 15]!, HEX[hi & 15]!,
    HEX[lo >>> 28]!, HEX[(lo >>> 24) & 15]!, HEX[(lo >>> 20) & 15]!, HEX[(lo >>> 16) & 15]!, HEX[(lo >>> 12) & 15]!, HEX[(lo >>> 8) & 15]!, HEX[(lo >>> 4) & 15]!, HEX[lo & 15]!)
}

/** An instant: 16 hex digits of the epoch ms, then the 6 digits of the nanoseconds within it. */
function sortableInstant(ms: number, ns: number): string {
  sortableBits(ms)
  // prettier-ignore
  return String.fromCharCode(TAG_TIME_CODE,
    HEX[hi >>> 28]!, HEX[(hi >>> 24) & 15]!, HEX[(hi >>> 20) & 15]!, HEX[(hi >>> 16) & 15]!, HEX[(hi >>> 12) & 15]!, HEX[(hi >>> 8) & 15]!, HEX[(hi >>> 4) & 15]!, HEX[hi & 15]!,
    HEX[lo >>> 28]!, HEX[(lo >>> 24) & 15]!, HEX[(lo >>> 20) & 15]!, HEX[(lo >>> 16) & 15]!, HEX[(lo >>> 12) & 15]!, HEX[(lo >>> 8) & 15]!, HEX[(lo >>> 4) & 15]!, HEX[lo & 15]!,
    48 + Math.floor(ns / 100000), 48 + (Math.floor(ns / 10000) % 10), 48 + (Math.floor(ns / 1000) % 10), 48 + (Math.floor(ns / 100) % 10), 48 + (Math.floor(ns / 10) % 10), 48 + (ns % 10))
}

const TAG_NUMBER_CODE = TAG_NUMBER.charCodeAt(0)
const TAG_TIME_CODE = TAG_TIME.charCodeAt(0)

// 2024-05-01T10:00:00.123456+02:00, 2024-05-01 10:00Z, 2024-05-01 (a date alone is its UTC midnight):
// ^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?([Zz]|[+-]\d{2}(?::?\d{2})?)?)?$
// read by hand (the regular expression, its match array and the Number() of each part cost more
// than the rest of the key). Each optional part starts with a character that nothing after it can
// start with, so reading greedily is what the expression matches.

/** `text[i..i+n)` as a number when it is n ASCII digits, else -1. */
function digits(text: string, i: number, n: number): number {
  let v = 0
  for (let j = i; j < i + n; j++) {
    const c = text.charCodeAt(j) - 48
    if (!(c >= 0 && c <= 9)) return -1
    v = v * 10 + c
  }
  return v
}

// The nanoseconds within the millisecond of the last instant read by instantMs.
let instantNs = 0

/** The epoch ms of an ISO-8601 timestamp (its sub-ms part in instantNs), or NaN when it is not one. */
function instantMs(text: string): number {
  const len = text.length
  if (len < 10 || len > 40) return NaN
  const y = digits(text, 0, 4)
  const mo = digits(text, 5, 2)
  const d = digits(text, 8, 2)
  if (y < 0 || mo < 0 || d < 0 || text.charCodeAt(4) !== 45 || text.charCodeAt(7) !== 45) return NaN
  let h = 0
  let mi = 0
  let s = 0
  let ms = 0
  let ns = 0
  let offsetMin = 0
  if (len > 10) {
    const t = text.charCodeAt(10)
    if (t !== 84 && t !== 116 && t !== 32) return NaN
    h = digits(text, 11, 2)
    mi = digits(text, 14, 2)
    if (h < 0 || mi < 0 || text.charCodeAt(13) !== 58) return NaN
    let i = 16
    if (text.charCodeAt(i) === 58) {
      s = digits(text, i + 1, 2)
      if (s < 0) return NaN
      i += 3
      const dot = text.charCodeAt(i)
      if (dot === 46 || dot === 44) {
        let n = 0
        let frac = 0
        while (n < 9 && i + 1 + n < len) {
          const c = text.charCodeAt(i + 1 + n) - 48
          if (!(c >= 0 && c <= 9)) break
          frac = frac * 10 + c
          n++
        }
        if (n === 0) return NaN
        for (let k = n; k < 9; k++) frac *= 10
        ms = Math.floor(frac / 1e6)
        ns = frac % 1e6
        i += 1 + n
      }
    }
    if (i < len) {
      const z = text.charCodeAt(i)
      if (z === 90 || z === 122) i++
      else if (z === 43 || z === 45) {
        const oh = digits(text, i + 1, 2)
        if (oh < 0) return NaN
        i += 3
        let om = 0
        if (i < len) {
          if (text.charCodeAt(i) === 58) i++
          om = digits(text, i, 2)
          if (om < 0) return NaN
          i += 2
        }
        offsetMin = (oh * 60 + om) * (z === 45 ? -1 : 1)
      }
    }
    if (i !== len) return NaN
  }
  if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 24 || mi > 59 || s > 60) return NaN
  const day = Date.UTC(y, mo - 1, d)
  if (d > 28 && new Date(day).getUTCDate() !== d) return NaN
  instantNs = ns
  return day + ((h * 60 + mi - offsetMin) * 60 + s) * 1000 + ms
}

/**
 * The instant of an ISO-8601 timestamp as `[epoch ms, nanoseconds within the ms]`, or undefined when
 * the text is not one (or names an impossible date). A timestamp without an offset is read as UTC,
 * so the order never depends on the machine's time zone.
 */
export function isoInstant(text: string): [number, number] | undefined {
  const ms = instantMs(text)
  return Number.isNaN(ms) ? undefined : [ms, instantNs]
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
      return sortableNumber(TAG_NUMBER_CODE, value)
    case 'boolean':
      return value ? TAG_TRUE : TAG_FALSE
    case 'bigint':
      return sortableNumber(TAG_NUMBER_CODE, Number(value))
    case 'string': {
      const ms = value.length >= 10 ? instantMs(value) : NaN
      if (!Number.isNaN(ms)) return sortableInstant(ms, instantNs)
      return TAG_STRING + closed(codePointOrder(value), last)
    }
    default:
      if (value === null) return TAG_NULL
      if (value instanceof Date) return sortableInstant(value.getTime(), 0)
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

/** True when an event has a value at every `--order-by` path (its key is not missing), without encoding it. */
export function hasOrderKey(paths: string | readonly string[]): (event: unknown) => boolean {
  const getters = parseOrderBy(paths).map((p) => compilePath(p))
  return (event) => {
    for (let i = 0; i < getters.length; i++) if (getters[i]!(event) === undefined) return false
    return true
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
