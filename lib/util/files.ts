import { stat } from 'node:fs/promises'
import path from 'node:path'
import { glob } from 'tinyglobby'
import { HydratorError } from '../errors.js'

const collator = new Intl.Collator('en', { numeric: true, sensitivity: 'variant' })

/** Natural sort order: `events-2` before `events-10`. */
export function naturalCompare(a: string, b: string): number {
  return collator.compare(a, b)
}

const GLOB_CHARS = /[*?[\]{}]/

/**
 * Resolves a file, a directory (its files matching `pattern`) or a glob to files in natural order.
 * Throws ERR_FILE_NOT_FOUND naming the path when nothing is there.
 */
export async function resolveFiles(location: string, pattern: string, cwd = process.cwd()): Promise<string[]> {
  if (GLOB_CHARS.test(location)) {
    const files = await glob(location, { cwd, absolute: true, onlyFiles: true, expandDirectories: false })
    if (files.length === 0) throw new HydratorError('ERR_FILE_NOT_FOUND', `no file matches \`${location}\``)
    return files.sort((a, b) => naturalCompare(a, b))
  }
  const full = path.resolve(cwd, location)
  let info
  try {
    info = await stat(full)
  } catch (error) {
    throw new HydratorError('ERR_FILE_NOT_FOUND', `cannot read \`${location}\`: no such file or directory`, { cause: error })
  }
  if (info.isDirectory()) {
    const files = await glob(pattern, { cwd: full, absolute: true, onlyFiles: true, expandDirectories: false })
    if (files.length === 0) {
      throw new HydratorError('ERR_FILE_NOT_FOUND', `the directory \`${location}\` holds no file matching \`${pattern}\``)
    }
    return files.sort((a, b) => naturalCompare(a, b))
  }
  return [full]
}

/** Sum of the sizes of files, for progress and ETA. */
export async function totalSize(files: readonly string[]): Promise<number> {
  let total = 0
  for (const f of files) total += (await stat(f)).size
  return total
}

/** A short name for a file in messages: relative to cwd when inside it. */
export function displayPath(file: string, cwd = process.cwd()): string {
  const rel = path.relative(cwd, file)
  return rel && !rel.startsWith('..') && !path.isAbsolute(rel) ? rel : file
}
