/**
 * IP literals and CIDR blocks as event-ruler reads them (`software.amazon.event.ruler.CIDR`): a
 * regular-expression gate, then Java's `InetAddress` literal parsing, then byte ranges. Private to
 * lib/pattern.
 */

/** Result of {@link parseIpInto}: the gate refused the text (not an IP-looking string). */
const IP_NOT_LITERAL = 0
/** Result of {@link parseIpInto}: the text passed the gate but is not a valid address. */
const IP_INVALID = -1

/**
 * Parses an IPv4 or IPv6 literal into `out` (which must hold 16 bytes) and returns the address
 * length (4 or 16), {@link IP_NOT_LITERAL} when the text does not look like an IP address, or
 * {@link IP_INVALID} when it looks like one but is not valid. Allocates nothing.
 *
 * Like Java, IPv4 parts are decimal (leading zeros allowed, `010` is 10) and an IPv4-mapped IPv6
 * address (`::ffff:a00:1`) is read as the IPv4 address it maps.
 *
 * @example
 * const scratch = new Uint8Array(16)
 * parseIpInto('10.0.0.1', scratch) // 4, scratch starts 10, 0, 0, 1
 * parseIpInto('orders', scratch) // 0: not an IP literal
 */
export function parseIpInto(text: string, out: Uint8Array): number {
  const kind = gate(text)
  if (kind === 4) return parseIPv4Into(text, out) ? 4 : IP_INVALID
  if (kind === 6) {
    if (!parseIPv6Into(text, out)) return IP_INVALID
    if (isIPv4Mapped(out)) {
      out[0] = out[12]!
      out[1] = out[13]!
      out[2] = out[14]!
      out[3] = out[15]!
      return 4
    }
    return 16
  }
  return IP_NOT_LITERAL
}

/** event-ruler's gate: `[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+` for IPv4, `[0-9a-fA-F:]*:[0-9a-fA-F:]*` for IPv6. */
function gate(text: string): 0 | 4 | 6 {
  let dots = 0
  let colons = 0
  let v4 = true
  let v6 = true
  let partStart = true
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c >= 48 && c <= 57) {
      partStart = false
    } else if (c === 46) {
      v6 = false
      if (partStart) v4 = false
      dots++
      partStart = true
    } else if (c === 58) {
      v4 = false
      colons++
    } else if ((c >= 97 && c <= 102) || (c >= 65 && c <= 70)) {
      v4 = false
    } else {
      return 0
    }
  }
  if (v4 && dots === 3 && !partStart) return 4
  if (v6 && colons > 0) return 6
  return 0
}

function parseIPv4Into(text: string, out: Uint8Array): boolean {
  let part = 0
  let value = 0
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i)
    if (c === 46) {
      out[part++] = value
      value = 0
      continue
    }
    value = value * 10 + (c - 48)
    if (value > 255) return false
  }
  out[part] = value
  return true
}

function hexDigit(c: number): number {
  if (c >= 48 && c <= 57) return c - 48
  if (c >= 97 && c <= 102) return c - 87
  if (c >= 65 && c <= 70) return c - 55
  return -1
}

/** Java's `IPAddressUtil.textToNumericFormatV6`, minus the embedded-IPv4 and zone forms the gate excludes. */
function parseIPv6Into(text: string, out: Uint8Array): boolean {
  const length = text.length
  if (length < 2) return false
  for (let k = 0; k < 16; k++) out[k] = 0
  let i = 0
  if (text.charCodeAt(0) === 58) {
    if (text.charCodeAt(1) !== 58) return false
    i = 1
  }
  let colonAt = -1
  let j = 0
  let sawDigit = false
  let value = 0
  while (i < length) {
    const c = text.charCodeAt(i++)
    const d = hexDigit(c)
    if (d >= 0) {
      value = (value << 4) | d
      if (value > 0xffff) return false
      sawDigit = true
      continue
    }
    if (c !== 58) return false
    if (!sawDigit) {
      if (colonAt !== -1) return false
      colonAt = j
      continue
    }
    if (i === length) return false
    if (j + 2 > 16) return false
    out[j++] = (value >> 8) & 0xff
    out[j++] = value & 0xff
    sawDigit = false
    value = 0
  }
  if (sawDigit) {
    if (j + 2 > 16) return false
    out[j++] = (value >> 8) & 0xff
    out[j++] = value & 0xff
  }
  if (colonAt !== -1) {
    const n = j - colonAt
    if (j === 16) return false
    for (let k = 1; k <= n; k++) {
      out[16 - k] = out[colonAt + n - k]!
      out[colonAt + n - k] = 0
    }
    j = 16
  }
  return j === 16
}

function isIPv4Mapped(bytes: Uint8Array): boolean {
  for (let k = 0; k < 10; k++) if (bytes[k] !== 0) return false
  return bytes[10] === 0xff && bytes[11] === 0xff
}

/**
 * Parses an IP literal into a fresh array of 4 or 16 bytes, or returns null.
 *
 * @example
 * parseIp('2001:db8::1')?.length // 16
 */
export function parseIp(text: string): Uint8Array | null {
  const scratch = new Uint8Array(16)
  const length = parseIpInto(text, scratch)
  return length > 0 ? scratch.slice(0, length) : null
}

/** An inclusive range of addresses of one family (both bounds have the same length, 4 or 16). */
export interface IpRange {
  readonly low: Uint8Array
  readonly high: Uint8Array
}

/**
 * Parses a CIDR block the way event-ruler's `CIDR.cidr` does and returns its inclusive address
 * range, or a string with the reason AWS gives when it rejects it.
 *
 * @example
 * parseCidr('10.0.0.0/24') // { low: 10.0.0.0, high: 10.0.0.255 } as bytes
 * parseCidr('10.0.0.0') // "Malformed CIDR, one '/' required"
 */
export function parseCidr(text: string): IpRange | string {
  const slashed = javaSplitSlash(text)
  if (slashed.length !== 2) return "Malformed CIDR, one '/' required"
  const maskBits = javaParseInt(slashed[1]!)
  if (maskBits === undefined) return 'Malformed CIDR, mask bits must be an integer'
  if (maskBits < 0) return 'Malformed CIDR, mask bits must not be negative'
  const scratch = new Uint8Array(16)
  const length = parseIpInto(slashed[0]!, scratch)
  if (length === IP_NOT_LITERAL) return `Nonstandard IP address: ${slashed[0]}`
  if (length === IP_INVALID) return `Invalid IP address: ${slashed[0]}`
  if (length === 4 && maskBits > 31) return 'IPv4 mask bits must be < 32'
  if (length === 16 && maskBits > 127) return 'IPv6 mask bits must be < 128'
  const low = scratch.slice(0, length)
  const high = scratch.slice(0, length)
  let variableBits = length * 8 - maskBits
  for (let i = length - 1; i >= 0 && variableBits > 0; i--, variableBits -= 8) {
    const bits = Math.min(8, variableBits)
    const trailing = (1 << bits) - 1
    low[i] = low[i]! & ~trailing & 0xff
    high[i] = high[i]! | trailing
  }
  return { low, high }
}

/** `String.split("/")` in Java: trailing empty strings are dropped. */
function javaSplitSlash(text: string): string[] {
  const parts = text.split('/')
  while (parts.length > 0 && parts[parts.length - 1] === '') parts.pop()
  return parts
}

/** `Integer.parseInt` in Java: optional sign, ASCII digits, 32-bit range; undefined when it throws. */
function javaParseInt(text: string): number | undefined {
  if (!/^[+-]?[0-9]+$/.test(text)) return undefined
  const value = Number(text)
  if (value > 2147483647 || value < -2147483648) return undefined
  return value
}

/**
 * True when `address` (its first `length` bytes, 4 or 16) lies in `range` of the same family.
 *
 * @example
 * inRange(parseIp('10.0.0.9')!, 4, parseCidr('10.0.0.0/24') as IpRange) // true
 */
export function inRange(address: Uint8Array, length: number, range: IpRange): boolean {
  const { low, high } = range
  if (low.length !== length) return false
  let i = 0
  while (i < length && address[i] === low[i]) i++
  if (i < length && address[i]! < low[i]!) return false
  i = 0
  while (i < length && address[i] === high[i]) i++
  return !(i < length && address[i]! > high[i]!)
}

/**
 * True when the first `length` bytes of `address` equal `bytes` (of the same length).
 *
 * @example
 * sameAddress(parseIp('::ffff:a00:1')!, 4, parseIp('10.0.0.1')!) // true
 */
export function sameAddress(address: Uint8Array, length: number, bytes: Uint8Array): boolean {
  if (bytes.length !== length) return false
  for (let i = 0; i < length; i++) if (address[i] !== bytes[i]) return false
  return true
}
