// Imports nothing from the project: errors.ts uses it, and everything uses errors.ts.

// Names of query and connection-string parameters whose value is a secret. A name matches when it
// ends with one of these words (`client_secret`, `X-Amz-Security-Token`, `--password`, `dbPassword`).
const SECRET_WORDS = [
  'password',
  'passwd',
  'pwd',
  'pass',
  'secret',
  'token',
  'api[_-]?key',
  'access[_-]?key',
  'private[_-]?key',
  'credentials?',
  'signature',
  'sig',
  'authorization',
].join('|')

// `name=value`: the name starts after a character that cannot be part of one (start, `?`, `&`, `;`,
// space, quote, ...); the value is a quoted or braced string (connection strings), else runs to the
// next `&`, `;`, whitespace, backtick or quote. Each part is a single pass: no nested quantifiers.
const SECRET_PARAM = new RegExp(
  `(?<![\\w.-])([\\w.-]*?(?:${SECRET_WORDS})[ \\t]*=[ \\t]*)("[^"]*"?|'[^']*'?|\\{[^}]*\\}?|[^&;\\s\`'"]+)`,
  'gi',
)

const MASK = '***'

/**
 * Replaces every secret that text may hold with `***`: the password of anything that looks like
 * userinfo (`scheme://user:pass@host`, `scheme:user:pass@host`, `user:pass@host`), and the value of
 * password-like parameters (`?password=`, `&pwd=`, `;Password=...;`, `token=`, `X-Amz-Signature=`,
 * `api_key=`, ...), wherever they sit in a message (in backticks, quotes or parentheses, several per
 * message), whether or not the URI parses. Rules, per whitespace-delimited token:
 *
 * - userinfo ends at the last `@` before the first `/` that follows the first `@`, so `@ : / ? #`
 *   inside a password are covered, while `@` in a later path or query does not swallow the host;
 * - after `//`, the password is what follows the first `:`; a user without a password stays;
 * - without `//`, everything between the first `:` after an optional scheme and that `@` goes
 *   (the user name too when it cannot be told apart);
 * - a token without both a `:` and a later `@` is never touched, so paths (`./node_modules/@aws-sdk/x`),
 *   e-mail addresses, timestamps and `host:port` come back as they were.
 *
 * It over-redacts rather than leaks: `http://h:9200/x?q=a@b` becomes `http://h:***@b`. A password
 * holding unencoded whitespace cannot be recognised. Runs in linear time (no backtracking regex).
 *
 * @example
 * redactSecrets('cannot connect to `postgres://app:p@ss@db/app`') // 'cannot connect to `postgres://app:***@db/app`'
 * redactSecrets('mssql://db/shop?user=sa&pwd=hunter2&table=t') // 'mssql://db/shop?user=sa&pwd=***&table=t'
 */
export function redactSecrets(text: string): string {
  if (typeof text !== 'string' || text.length === 0) return text
  // Both rules look at the original text and their ranges are merged, so neither can hide a secret
  // from the other (`pwd=p@ss` after a port, `user:p&pass=x@host`).
  const ranges: [number, number][] = []
  if (text.includes('=')) {
    for (const m of text.matchAll(SECRET_PARAM)) ranges.push([m.index + m[1]!.length, m.index + m[0].length])
  }
  if (text.includes('@')) userinfoRanges(text, ranges)
  if (ranges.length === 0) return text
  ranges.sort((x, y) => x[0] - y[0])
  let out = ''
  let last = 0
  let [from, to] = ranges[0]!
  for (const [nextFrom, nextTo] of ranges) {
    if (nextFrom <= to) {
      to = Math.max(to, nextTo)
      continue
    }
    out += text.slice(last, from) + MASK
    last = to
    ;[from, to] = [nextFrom, nextTo]
  }
  return out + text.slice(last, from) + MASK + text.slice(to)
}

function isSpace(code: number): boolean {
  return (
    code <= 0x20 ||
    code === 0x7f ||
    code === 0xa0 ||
    code === 0x1680 ||
    (code >= 0x2000 && code <= 0x200a) ||
    code === 0x2028 ||
    code === 0x2029 ||
    code === 0x202f ||
    code === 0x205f ||
    code === 0x3000 ||
    code === 0xfeff
  )
}

const AT = 0x40
const SLASH = 0x2f
const COLON = 0x3a
const BACKSLASH = 0x5c

// Bounded searches: String#indexOf would scan past `to`, which makes a loop over many candidates quadratic.
function indexIn(text: string, code: number, from: number, to: number): number {
  for (let i = from; i < to; i++) if (text.charCodeAt(i) === code) return i
  return -1
}

function lastIndexIn(text: string, code: number, from: number, to: number): number {
  for (let i = to - 1; i >= from; i--) if (text.charCodeAt(i) === code) return i
  return -1
}

function doubleSlashIn(text: string, from: number, to: number): number {
  for (let i = from; i + 1 < to; i++) if (text.charCodeAt(i) === SLASH && text.charCodeAt(i + 1) === SLASH) return i
  return -1
}

function isAlpha(code: number): boolean {
  return (code >= 0x41 && code <= 0x5a) || (code >= 0x61 && code <= 0x7a)
}

function isAlnum(code: number): boolean {
  return isAlpha(code) || (code >= 0x30 && code <= 0x39)
}

/** `[a-z][a-z0-9+.-]*` between `from` (after leading punctuation such as a backtick) and `to`; -1 when not, else its start. */
function schemeStart(text: string, from: number, to: number): number {
  let i = from
  while (i < to && !isAlnum(text.charCodeAt(i))) i++
  if (i >= to || !isAlpha(text.charCodeAt(i))) return -1
  for (let j = i + 1; j < to; j++) {
    const c = text.charCodeAt(j)
    if (!isAlnum(c) && c !== 0x2b && c !== 0x2e && c !== 0x2d) return -1
  }
  return i
}

/** The `[from, to)` ranges to mask inside the token `[start, end)`. */
function tokenRanges(text: string, start: number, end: number, ranges: [number, number][]): void {
  let p = start
  while (p < end) {
    const a = indexIn(text, AT, p, end)
    if (a === -1) return
    let s = indexIn(text, SLASH, a + 1, end)
    if (s === -1) s = end
    const b = lastIndexIn(text, AT, a, s)
    let from = -1
    const slashes = doubleSlashIn(text, p, a)
    if (slashes !== -1) {
      // scheme://user:password@host: the user name is not a secret.
      const colon = indexIn(text, COLON, slashes + 2, b)
      if (colon !== -1) from = colon + 1
    } else {
      const first = indexIn(text, COLON, p, b)
      if (first !== -1) {
        const scheme = schemeStart(text, p, first)
        const driveLetter = scheme !== -1 && first - scheme === 1 && text.charCodeAt(first + 1) === BACKSLASH
        if (!driveLetter) {
          // `postgres:user:password@host` keeps `postgres:user:`; `user:password@host` keeps `user:`.
          const second = scheme !== -1 ? indexIn(text, COLON, first + 1, b) : -1
          from = (second !== -1 ? second : first) + 1
        }
      }
    }
    if (from !== -1 && from < b) ranges.push([from, b])
    p = s
  }
}

/** The userinfo ranges of every whitespace-delimited token holding an `@`. */
function userinfoRanges(text: string, ranges: [number, number][]): void {
  const n = text.length
  let i = 0
  while (i < n) {
    while (i < n && isSpace(text.charCodeAt(i))) i++
    const start = i
    let hasAt = false
    while (i < n) {
      const c = text.charCodeAt(i)
      if (isSpace(c)) break
      if (c === AT) hasAt = true
      i++
    }
    if (hasAt) tokenRanges(text, start, i, ranges)
  }
}
