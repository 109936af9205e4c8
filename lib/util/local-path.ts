// Local paths as people type them, on every platform: `file:` URLs, Windows drive letters,
// backslashes, UNC shares and `\\?\` long paths. Pure functions of the text and a platform (the
// default is the running one), so tests on Linux run the Windows rules for real with `'win32'`.
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { HydratorError } from '../errors.js'

/** The characters that make a path segment a glob. */
const GLOB_CHARS = /[*?[\]{}]/

const pathOf = (platform: NodeJS.Platform): path.PlatformPath => (platform === 'win32' ? path.win32 : path.posix)

/**
 * True for text that is a Windows path and not a URI: a drive letter (`C:\`, `C:/`, `c:`), a UNC
 * share (`\\server\share`) or a device path (`\\?\C:\`, `\\.\`). A one-letter "scheme" is always a
 * drive, never a URI scheme.
 *
 * @example
 * looksLikeWindowsPath('C:\\events\\*.ndjson') // true
 */
export function looksLikeWindowsPath(text: string): boolean {
  return /^[a-z]:(?:[\\/]|$)/i.test(text) || /^\\\\[^\\]/.test(text)
}

/**
 * The root of a Windows path as written, separators kept: `C:\`, `C:` (drive-relative), `\`,
 * `\\server\share\`, `\\?\C:\`, `\\?\UNC\server\share\`, `\\?\Volume{guid}\`; '' for a relative
 * path. Both `\` and `/` separate.
 *
 * @example
 * windowsRoot('\\\\?\\C:\\events\\x.ndjson') // '\\\\?\\C:\\'
 */
export function windowsRoot(text: string): string {
  const root =
    /^[\\/]{2}[?.][\\/]UNC[\\/][^\\/]+[\\/][^\\/]+(?:[\\/]|$)/i.exec(text) ??
    /^[\\/]{2}[?.][\\/][a-z]:(?:[\\/]|$)/i.exec(text) ??
    // `\\?\Volume{guid}\`, `\\.\PhysicalDrive0`: the first segment is the device, braces and all.
    /^[\\/]{2}[?.][\\/][^\\/]+(?:[\\/]|$)/.exec(text) ??
    /^[\\/]{2}(?![?.](?:[\\/]|$))[^\\/]+[\\/][^\\/]+(?:[\\/]|$)/.exec(text) ??
    /^[a-z]:[\\/]?/i.exec(text) ??
    /^[\\/]/.exec(text)
  return root ? root[0] : ''
}

/**
 * `\\?\C:\x` as `C:\x` and `\\?\UNC\server\share\x` as `\\server\share\x`: the same file, in the
 * form globbing and path arithmetic understand. Node adds the long-path prefix itself to every
 * file system call on Windows, so nothing is lost. Other text is returned as it is.
 *
 * @example
 * withoutLongPathPrefix('\\\\?\\UNC\\nas\\logs\\x') // '\\\\nas\\logs\\x'
 */
export function withoutLongPathPrefix(text: string): string {
  const unc = /^[\\/]{2}[?.][\\/]UNC[\\/]/i.exec(text)
  if (unc) return `\\\\${text.slice(unc[0].length)}`
  if (/^[\\/]{2}[?.][\\/][a-z]:(?:[\\/]|$)/i.test(text)) return text.slice(4)
  return text
}

/**
 * A location as a local path: a `file:` URL (`file:///C:/events/x.ndjson`,
 * `file://server/share/x`, `file:///var/events`) becomes the platform's path, percent-encoding
 * decoded; `file:` before a path that does not start with a separator (`file:run.ckpt`,
 * `file:C:\x`) is dropped; anything else is returned as it is. A `file:` URL that names no local
 * file (a host on POSIX, an encoded `/`) throws ERR_INVALID_URI.
 *
 * @example
 * localPath('file:///C:/events/a%20b.ndjson', 'win32') // 'C:\\events\\a b.ndjson'
 */
export function localPath(location: string, platform: NodeJS.Platform = process.platform): string {
  if (!/^file:/i.test(location)) return location
  // `file:run.ckpt`, `file:C:\x`: a path behind the prefix (what `--checkpoint file:...` always took).
  const rest = location.slice(5)
  if (!/^[\\/]/.test(rest)) return rest
  try {
    return fileURLToPath(location, { windows: platform === 'win32' })
  } catch (error) {
    throw new HydratorError(
      'ERR_INVALID_URI',
      `\`${location.length > 200 ? `${location.slice(0, 197)}...` : location}\` is not a local file URL (${(error as Error).message}); expected e.g. ${platform === 'win32' ? '`file:///C:/events/x.ndjson`' : '`file:///var/events/x.ndjson`'} or a plain path`,
      { cause: error },
    )
  }
}

/** How {@link planGlob} splits a glob: the folder to crawl and the pattern below it. */
export interface GlobPlan {
  /** The absolute folder the crawl starts in (the glob's part without glob characters). */
  readonly cwd: string
  /** The pattern relative to {@link cwd}, `/`-separated, as tinyglobby takes it. */
  readonly pattern: string
  /** Match names ignoring case (Windows file systems do). */
  readonly caseInsensitive: boolean
}

/**
 * How to glob `location` from `cwd`, or undefined when it holds no glob character (then it is a
 * file or a folder). On Windows `\` is a separator, never an escape: the segments up to the first
 * one with a glob character (`*?[]{}`) are the folder the crawl starts in (drive letters, UNC
 * shares, `\\?\` prefixes and `(x86)` in it taken literally), the rest is the pattern with `/`
 * separators, its `(`, `)` and a leading `!` escaped, matched ignoring case. On POSIX the whole
 * location is the pattern, from `cwd`, with glob escapes (`\*`) as usual.
 *
 * @example
 * planGlob('D:\\events\\2024-*\\*.ndjson', 'C:\\work', 'win32')
 * // { cwd: 'D:\\events', pattern: '2024-*' + '/*.ndjson', caseInsensitive: true }
 */
export function planGlob(location: string, cwd: string, platform: NodeJS.Platform = process.platform): GlobPlan | undefined {
  const p = pathOf(platform)
  if (platform !== 'win32') return GLOB_CHARS.test(location) ? { cwd: p.resolve(cwd), pattern: location, caseInsensitive: false } : undefined
  const root = windowsRoot(location)
  const parts = location.slice(root.length).split(/[\\/]+/)
  const first = parts.findIndex((part) => GLOB_CHARS.test(part))
  if (first === -1) return undefined
  const base = root + parts.slice(0, first).join('\\')
  const pattern = parts
    .slice(first)
    .filter((part) => part !== '')
    .join('/')
    .replace(/[()]/g, '\\$&')
    .replace(/^!/, '\\!')
  return { cwd: p.resolve(cwd, withoutLongPathPrefix(base) || '.'), pattern, caseInsensitive: true }
}

/**
 * A glob pattern given for a folder's files (`?glob=`, a reader's `glob` option): on Windows its
 * `\` separate folders (`sub\*.ndjson` is `sub/*.ndjson`); elsewhere it is returned as it is.
 *
 * @example
 * folderGlob('2024\\**\\*.ndjson', 'win32') // '2024/**' + '/*.ndjson'
 */
export function folderGlob(pattern: string, platform: NodeJS.Platform = process.platform): string {
  return platform === 'win32' ? pattern.replace(/\\/g, '/') : pattern
}

/**
 * True when `location` is a glob (then it is read as NDJSON files), by the platform's rules:
 * `\\?\C:\x.json` is one file on Windows, `events\*.ndjson` a glob.
 *
 * @example
 * isGlob('C:\\events\\*.ndjson', 'win32') // true
 */
export function isGlob(location: string, platform: NodeJS.Platform = process.platform): boolean {
  return planGlob(location, platform === 'win32' ? 'C:\\' : '/', platform) !== undefined
}

/**
 * Where the query string of a URI's `rest` (what follows `scheme:`) starts, or -1: at the first
 * `?`, except the one of a Windows long-path prefix (`json:\\?\C:\events\x.ndjson?format=lines`).
 *
 * @example
 * queryStart('\\\\?\\C:\\x.ndjson?format=lines') // 14
 */
export function queryStart(rest: string): number {
  return rest.indexOf('?', /^[\\/]{2}\?[\\/]/.test(rest) ? 4 : 0)
}
