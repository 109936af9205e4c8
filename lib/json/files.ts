import { type Dirent, readdir as readdirCallback, stat as statCallback } from 'node:fs'
import { readlink, realpath, stat } from 'node:fs/promises'
import path from 'node:path'
import { type FileSystemAdapter, glob } from 'tinyglobby'
import { HydratorError } from '../errors.js'
import { folderGlob, type GlobPlan, planGlob } from '../util/local-path.js'

const collator = new Intl.Collator('en', { numeric: true, sensitivity: 'variant' })

/** Natural sort order: `events-2` before `events-10`. */
export function naturalCompare(a: string, b: string): number {
  return collator.compare(a, b)
}

/** One entry of {@link resolveFiles}: a file to read, a link that cannot be read, or a second path to a file already listed. */
export interface ResolvedFile {
  /** The absolute path as matched (through links, not resolved). */
  readonly file: string
  /** Set when the entry is a link that cannot be read: `dangling link to <target>`, `link loop` or `permission denied`. */
  readonly problem?: string
  /** Set when an earlier entry is the same real file: this one is not read again. */
  readonly duplicateOf?: string
}

/**
 * Resolves a file, a directory (its files matching `pattern`) or a glob to files in natural order.
 * Each real file is read once: an entry whose real path an earlier entry already has (a link to a
 * file of the folder, a folder reached through a link) stays in the list, marked `duplicateOf`, so
 * that indexes stay the same between a run and its resume. Links that cannot be read (dangling,
 * looping) and match are listed with a `problem`. Throws ERR_FILE_NOT_FOUND naming the path when
 * nothing is there, or when the path itself is such a link. Globs follow the platform's rules
 * ({@link planGlob}): on Windows `C:\events\*.ndjson` and `C:/events/*.ndjson` are the same glob.
 *
 * @example
 * for (const { file, problem, duplicateOf } of await resolveFiles('events', '*.ndjson')) ...
 */
export async function resolveFiles(location: string, pattern: string, cwd = process.cwd()): Promise<ResolvedFile[]> {
  const plan = planGlob(location, cwd)
  if (plan) {
    const files = await globFiles(plan)
    if (files.length === 0) throw new HydratorError('ERR_FILE_NOT_FOUND', `no file matches \`${location}\``)
    return files
  }
  const full = path.resolve(cwd, location)
  let info
  try {
    info = await stat(full)
  } catch (error) {
    const problem = await linkProblem(full, error)
    throw new HydratorError('ERR_FILE_NOT_FOUND', `cannot read \`${location}\`: ${problem ?? 'no such file or directory'}`, { cause: error })
  }
  if (info.isDirectory()) {
    const files = await globFiles({ cwd: full, pattern: folderGlob(pattern), caseInsensitive: process.platform === 'win32' })
    if (files.length === 0) {
      throw new HydratorError('ERR_FILE_NOT_FOUND', `the directory \`${location}\` holds no file matching \`${pattern}\``)
    }
    return files
  }
  return [{ file: full }]
}

/**
 * A share of a folder's or a glob's files: the names (as {@link displayPath} writes them) from
 * `from` (included) up to `before` (excluded) in natural order; `null` is open-ended.
 */
export interface FileRange {
  readonly from: string | null
  readonly before: string | null
}

/** The files of `files` inside `range`. */
export function filesIn<F extends { readonly file: string }>(files: readonly F[], range: FileRange | undefined, cwd: string): F[] {
  if (!range) return [...files]
  return files.filter(({ file }) => {
    const name = displayPath(file, cwd)
    return (range.from === null || naturalCompare(name, range.from) >= 0) && (range.before === null || naturalCompare(name, range.before) < 0)
  })
}

/**
 * Splits files into `count` ranges of whole files, contiguous in natural order and about equal in
 * bytes; a range may be empty when there are fewer files than shares.
 */
export async function splitFiles(files: readonly ResolvedFile[], count: number, cwd: string): Promise<FileRange[]> {
  const sizes = await Promise.all(files.map(async (f) => (f.problem || f.duplicateOf ? 0 : (await stat(f.file)).size)))
  const total = sizes.reduce((a, b) => a + b, 0)
  const starts: (string | null)[] = [null]
  let acc = 0
  let next = 1
  for (let i = 0; i < files.length && next < count; i++) {
    // Start share `next` at the first file past its share of the bytes (or of the files, when empty).
    const share = total > 0 ? (acc / total) * count : (i / files.length) * count
    if (i > 0 && share >= next) {
      starts.push(displayPath(files[i]!.file, cwd))
      next++
    }
    acc += sizes[i]!
  }
  const ranges: FileRange[] = starts.map((from, i) => ({ from, before: i + 1 < starts.length ? starts[i + 1]! : null }))
  // Fewer files than shares: the shares left over are empty.
  while (ranges.length < count) ranges.push({ from: '', before: '' })
  return ranges
}

/** Sum of the sizes of the files that can be read, for progress and ETA. */
export async function totalSize(files: readonly ResolvedFile[]): Promise<number> {
  let total = 0
  for (const f of files) if (!f.problem && !f.duplicateOf) total += (await stat(f.file)).size
  return total
}

/**
 * A short name for a file in messages and positions: relative to cwd when inside it (on Windows
 * also when only the case of the drive or folders differs), else the path as it is (another drive,
 * a UNC share).
 */
export function displayPath(file: string, cwd = process.cwd(), platform: NodeJS.Platform = process.platform): string {
  const p = platform === 'win32' ? path.win32 : path.posix
  const rel = p.relative(cwd, file)
  return rel && rel !== '..' && !rel.startsWith(`..${p.sep}`) && !p.isAbsolute(rel) ? rel : file
}

/**
 * The matches of a glob planned by {@link planGlob}, as absolute paths with the platform's
 * separators, in natural order. tinyglobby (through fdir) follows links to files and folders
 * but drops links it cannot resolve (dangling, looping) without a word, and with
 * `followSymbolicLinks: false` drops every link. So the directory listing it crawls with is ours: a
 * link that cannot be followed is shown to it as a plain file, and the glob matches it by name.
 */
export async function globFiles(plan: GlobPlan): Promise<ResolvedFile[]> {
  const crawl = { sawLink: false }
  const matched = await glob(plan.pattern, {
    cwd: plan.cwd,
    absolute: true,
    onlyFiles: true,
    expandDirectories: false,
    caseSensitiveMatch: !plan.caseInsensitive,
    fs: linkAwareFs(crawl),
  })
  // tinyglobby answers `C:/events/a.ndjson` on Windows: the same path as every other one we make.
  const files = matched.map((file) => path.resolve(file))
  files.sort((a, b) => naturalCompare(a, b))
  // Without a link in the crawled folders, every path is a distinct real file.
  if (!crawl.sawLink) return files.map((file) => ({ file }))
  const found = new Array<{ real: string; problem?: string }>(files.length)
  const CONCURRENCY = 64
  for (let i = 0; i < files.length; i += CONCURRENCY) {
    const slice = files.slice(i, i + CONCURRENCY)
    const infos = await Promise.all(slice.map(inspect))
    for (let j = 0; j < infos.length; j++) found[i + j] = infos[j]!
  }
  const first = new Map<string, string>()
  return files.map((file, i) => {
    const { real, problem } = found[i]!
    const earlier = first.get(real)
    if (earlier !== undefined) return { file, duplicateOf: earlier }
    first.set(real, file)
    return problem ? { file, problem } : { file }
  })
}

/** The real path of a matched file, or of the link itself (its folder's real path) when it leads nowhere. */
async function inspect(file: string): Promise<{ real: string; problem?: string }> {
  try {
    return { real: await realpath(file) }
  } catch (error) {
    const dir = path.dirname(file)
    const real = path.join(await realpath(dir).catch(() => dir), path.basename(file))
    return { real, problem: (await linkProblem(file, error)) ?? errorText(error) }
  }
}

/** Why `file`, which stat/realpath could not follow, cannot be read, if the reason is a link; else undefined. */
async function linkProblem(file: string, error: unknown): Promise<string | undefined> {
  const code = (error as NodeJS.ErrnoException | undefined)?.code
  if (code === 'ELOOP') return 'link loop'
  if (code === 'EACCES' || code === 'EPERM') return 'permission denied'
  if (code === 'ENOENT' || code === 'ENOTDIR') {
    const target = await readlink(file).catch(() => undefined)
    return target === undefined ? undefined : `dangling link to ${target}`
  }
  return undefined
}

function errorText(error: unknown): string {
  const e = error as NodeJS.ErrnoException | undefined
  return e?.code ?? (e?.message || String(error))
}

/**
 * node:fs for tinyglobby, whose `readdir` presents a link that cannot be followed as a file (so
 * that the glob reports it) and notes whether the crawl met any link.
 */
function linkAwareFs(crawl: { sawLink: boolean }): FileSystemAdapter {
  const readdir = (dir: string, options: unknown, callback: (error: NodeJS.ErrnoException | null, entries?: Dirent[]) => void) => {
    readdirCallback(dir, options as { withFileTypes: true }, (error, entries) => {
      if (error || !entries) return callback(error, entries)
      const links = entries.filter((entry) => entry.isSymbolicLink())
      if (links.length === 0) return callback(null, entries)
      crawl.sawLink = true
      let pending = links.length
      for (const entry of links) {
        statCallback(path.join(dir, entry.name), (statError) => {
          if (statError) {
            Object.defineProperties(entry, { isFile: { value: () => true }, isSymbolicLink: { value: () => false } })
          }
          if (--pending === 0) callback(null, entries)
        })
      }
    })
  }
  return { readdir: readdir as unknown as FileSystemAdapter['readdir'] }
}
