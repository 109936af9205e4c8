import { HydratorError } from './errors.js'
import { redactUri } from './util/options.js'
import { redactSecrets } from './util/redact.js'
import { localPath } from './util/local-path.js'
import type { ParsedUri } from './registry.js'

/** Rejects a query parameter the scheme does not know, listing the known ones (a typo fails loudly). */
export function checkParams(uri: ParsedUri, known: readonly string[]): void {
  for (const name of uri.params.keys()) {
    if (!known.includes(name)) {
      throw new HydratorError('ERR_INVALID_URI', `unknown parameter \`${name}\` in \`${redactUri(uri.uri)}\`; known: ${known.join(', ')}`)
    }
  }
}

/** An integer query parameter (>= `min`), or undefined when absent. */
export function intParam(uri: ParsedUri, name: string, min: number): number | undefined {
  const raw = uri.params.get(name)
  if (raw === null || raw === '') return undefined
  const n = Number(raw)
  if (!Number.isInteger(n) || n < min) {
    throw new HydratorError('ERR_INVALID_URI', `expected \`${name}\` in \`${redactUri(uri.uri)}\` to be an integer >= ${min}, got \`${raw}\``)
  }
  return n
}

/** A boolean query parameter (`true`/`1`/empty, `false`/`0`), or `fallback` when absent. */
export function boolParam(uri: ParsedUri, name: string, fallback?: boolean): boolean | undefined {
  const raw = uri.params.get(name)
  if (raw === null) return fallback
  if (raw === '' || raw === 'true' || raw === '1') return true
  if (raw === 'false' || raw === '0') return false
  throw new HydratorError('ERR_INVALID_URI', `expected \`${name}\` in \`${redactUri(uri.uri)}\` to be true or false, got \`${raw}\``)
}

/**
 * `decodeURIComponent` for a part of a URI (a path, a table or function name), throwing
 * ERR_INVALID_URI naming the URI with its secrets hidden instead of a bare URIError when a `%` starts
 * no percent-encoding.
 *
 * @example
 * decodeUriPart(uri, uri.path, 'the table name') // 'my table' for `dynamo:my%20table`
 */
export function decodeUriPart(uri: ParsedUri | string, part: string, what: string): string {
  try {
    return decodeURIComponent(part)
  } catch {
    const text = typeof uri === 'string' ? uri : uri.uri
    throw new HydratorError('ERR_INVALID_URI', `${what} in \`${redactUri(text)}\` holds a \`%\` that starts no percent-encoding: write \`%\` as %25`)
  }
}

/**
 * The file (or folder, or glob) a file scheme's URI names (`json:`, `ndjson:`): a `file:` URL as the
 * platform's path (`json:file:///C:/events/x.ndjson` -> `C:\events\x.ndjson` on Windows), else the
 * path percent-decoded as {@link decodeUriPart} does. Windows paths (`json:C:\events\*.ndjson`,
 * `json:\\server\share\x.ndjson`) come through as they are; `-` stays `-`; '' when none is named.
 *
 * @example
 * fileLocation(parseUri('ndjson:file:///D:/out/a%20b.ndjson'), 'win32') // 'D:\out\a b.ndjson'
 */
export function fileLocation(uri: ParsedUri, platform: NodeJS.Platform = process.platform): string {
  if (/^file:/i.test(uri.path)) return localPath(uri.path, platform)
  return decodeUriPart(uri, uri.path, 'the file name')
}

/** What {@link parseServerUrl} needs besides the URL. */
export interface ServerUrlOptions {
  /** The form to suggest, e.g. `postgres://user@host:5432/database?table=t`. */
  readonly expected: string
  /** How the URL is shown in messages (its secrets are hidden either way). @default the URL */
  readonly shown?: string
  /** Where the URL came from, put in front of the message, e.g. `DATABASE_URL`. */
  readonly label?: string
  /** Accept `host1:5432,host2:5433` (PostgreSQL); the first host is the one parsed. @default false */
  readonly multiHost?: boolean
}

const PERCENT_HINT = 'a user name or password holds a character that must be percent-encoded (`@` as %40, `:` as %3A, `/` as %2F, `?` as %3F, `#` as %23, `%` as %25)'

/**
 * Parses the URL of a server (`scheme://user:password@host:port/path?query`) the way the WHATWG
 * `URL` does, before any client sees it, and checks what a client would otherwise fail on later with
 * a bare `TypeError: Invalid URL` or `URIError`: a host is present, every port is in 1-65535, user
 * name and password decode, there is no `#fragment`, and the parser agrees with
 * {@link redactSecrets} on where the password ends (an unencoded `/`, `?` or `#` in a password would
 * otherwise send part of it to the server as the host, path or query). Throws ERR_INVALID_URI naming
 * the problem, computed from the redacted URL only, so the message never holds the password.
 *
 * @example
 * parseServerUrl('postgres://app:pw@db:99999/app', { expected: 'postgres://user@host:5432/db' })
 * // throws ERR_INVALID_URI: `postgres://app:***@db:99999/app` is not a valid URL: the port 99999 is out of range (1-65535); ...
 */
export function parseServerUrl(text: string, options: ServerUrlOptions): URL {
  const redacted = redactSecrets(text)
  const fail = (): HydratorError =>
    new HydratorError(
      'ERR_INVALID_URI',
      `${options.label ? `${options.label} ` : ''}\`${redactSecrets(options.shown ?? text)}\` is not a valid URL: ${urlProblem(redacted) ?? PERCENT_HINT}; expected \`${options.expected}\``,
    )
  const m = AUTHORITY.exec(text)
  if (!m) throw fail()
  const [, head, authority, tail] = m as unknown as [string, string, string, string]
  const at = authority.lastIndexOf('@')
  const hosts = authority.slice(at + 1)
  let parseText = text
  if (hosts.includes(',')) {
    // PostgreSQL's client splits the host list after the first `@`, the URL parser after the last.
    if (!options.multiHost || authority.indexOf('@') !== at) throw fail()
    if (hosts.split(',').some((entry) => hostProblem(entry) !== undefined)) throw fail()
    parseText = `${head}${authority.slice(0, at + 1)}${hosts.split(',')[0]}${tail}`
  }
  let url: URL
  try {
    url = new URL(parseText)
  } catch {
    throw fail()
  }
  if (url.hash || !url.hostname || url.port === '0') throw fail()
  try {
    decodeURIComponent(url.username)
    decodeURIComponent(url.password)
  } catch {
    throw fail()
  }
  const redactedParse = redactSecrets(parseText)
  if (redactedParse !== parseText) {
    let seen: URL
    try {
      seen = new URL(redactedParse)
    } catch {
      throw fail()
    }
    if (seen.hostname !== url.hostname || seen.port !== url.port || seen.pathname !== redactSecrets(url.pathname)) throw fail()
  }
  return url
}

const AUTHORITY = /^([a-z][a-z0-9+.-]*:\/\/)([^/?#\\]*)(.*)$/is

const quote = (value: string): string => `\`${value.length > 80 ? `${value.slice(0, 77)}...` : value}\``

/** What is wrong with a URL whose secrets are already hidden, or undefined when nothing shows. */
function urlProblem(redacted: string): string | undefined {
  const m = AUTHORITY.exec(redacted)
  if (!m) return 'expected `//` and a host after the scheme'
  const authority = m[2]!
  const hosts = authority.slice(authority.lastIndexOf('@') + 1)
  for (const entry of hosts.split(',')) {
    const problem = hostProblem(entry)
    if (problem) return problem
  }
  if (m[3]!.includes('#')) return 'it has a `#fragment` (a `#` in a password is written %23)'
  return undefined
}

/** What is wrong with one `host[:port]` of an authority, or undefined. */
function hostProblem(entry: string): string | undefined {
  let host = entry
  let port: string | undefined
  if (entry.startsWith('[')) {
    const close = entry.indexOf(']')
    if (close === -1) return `the IPv6 address ${quote(entry)} has no closing \`]\``
    host = entry.slice(0, close + 1)
    const rest = entry.slice(close + 1)
    if (rest && !rest.startsWith(':')) return `${quote(rest)} follows the IPv6 address ${quote(host)}`
    if (rest) port = rest.slice(1)
    if (!URL.canParse(`http://${host}/`)) return `${quote(host)} is not an IPv6 address`
  } else {
    const colon = entry.indexOf(':')
    if (colon !== -1) {
      host = entry.slice(0, colon)
      port = entry.slice(colon + 1)
    }
    if (!host) return 'it names no host'
    if (/[\s<>^|[\]"{}`\\]/.test(host)) return `the host ${quote(host)} holds a character a host name cannot`
  }
  if (port !== undefined && port !== '') {
    if (!/^\d+$/.test(port)) return `the port ${quote(port)} is not a number`
    const n = Number(port)
    if (n < 1 || n > 65535) return `the port ${port.length > 12 ? `${port.slice(0, 12)}...` : port} is out of range (1-65535)`
  }
  return undefined
}
