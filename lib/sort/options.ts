import { HydratorError } from '../errors.js'
import path from 'node:path'
import type { Position } from '../position.js'
import { parseUri } from '../registry.js'
import type { Source } from '../types.js'
import { parseOrderBy } from './key.js'
import { sortSource, type OrderMissing } from './sorted-source.js'

/** `--sort-memory`: bytes, or `64KB`, `256MB`, `1.5GB` (powers of 1024). */
export function parseSize(value: number | string, name = 'sortMemory'): number {
  if (typeof value === 'number' && Number.isInteger(value) && value >= 1024) return value
  const m = typeof value === 'string' ? /^\s*(\d+(?:\.\d+)?)\s*(b|kb|k|kib|mb|m|mib|gb|g|gib)?\s*$/i.exec(value) : null
  const unit = m ? ({ b: 0, k: 1, m: 2, g: 3 } as Record<string, number>)[(m[2] ?? 'b')[0]!.toLowerCase()]! : 0
  const bytes = m ? Math.floor(Number(m[1]) * 1024 ** unit) : NaN
  if (!(bytes >= 1024)) {
    const flag = name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)
    throw new HydratorError('ERR_INVALID_OPTION', `expected \`${name}\` (--${flag}) to be a size of at least 1KB such as \`256MB\` or a number of bytes, got \`${String(value)}\``)
  }
  return bytes
}

/** What hydrate() needs to sort its source, checked before any I/O. */
export interface SortPlan {
  readonly orderBy: readonly string[]
  readonly missing: OrderMissing
  readonly memoryBytes: number
  readonly tempDir?: string
  /** The checkpoint identity's part: another key or missing rule is another run. */
  readonly identity: { orderBy: string; orderMissing: OrderMissing }
}

/** Reads `orderBy`, `orderMissing`, `sortMemory` and `tempDir`; undefined without `orderBy`. */
export function sortPlanOf(options: { orderBy?: unknown; orderMissing?: unknown; sortMemory?: unknown; tempDir?: unknown }): SortPlan | undefined {
  if (options.orderBy === undefined || options.orderBy === null) {
    for (const name of ['orderMissing', 'sortMemory', 'tempDir'] as const) {
      if (options[name] !== undefined) throw new HydratorError('ERR_USAGE', `--${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} needs --order-by`)
    }
    return undefined
  }
  const orderBy = parseOrderBy(options.orderBy as string | readonly string[])
  const missing = (options.orderMissing ?? 'fail') as OrderMissing
  if (!['fail', 'first', 'last'].includes(missing)) {
    throw new HydratorError('ERR_INVALID_OPTION', `expected \`orderMissing\` (--order-missing) to be fail, first or last, got \`${String(missing)}\``)
  }
  const memoryBytes = options.sortMemory === undefined ? 256 * 2 ** 20 : parseSize(options.sortMemory as number | string)
  if (options.tempDir !== undefined && (typeof options.tempDir !== 'string' || options.tempDir === '')) {
    throw new HydratorError('ERR_INVALID_OPTION', `expected \`tempDir\` (--temp-dir) to be a folder, got \`${String(options.tempDir)}\``)
  }
  return {
    orderBy,
    missing,
    memoryBytes,
    ...(options.tempDir ? { tempDir: options.tempDir as string } : {}),
    identity: { orderBy: orderBy.join(','), orderMissing: missing },
  }
}

/** True for a source URI that can be read a second time (not stdin). */
export function canReread(uri: string): boolean {
  const { path } = parseUri(uri)
  return path !== '-' && path !== ''
}

/** JSON sources yield plain JSON values: spilled runs need no binary-aware encoding. */
export const isJsonScheme = (uri: string): boolean => /^(json|ndjson|jsonl):/i.test(uri)

/**
 * hydrate()'s source sorted by its plan: `again` creates the source anew for a second read (absent
 * for stdin and source objects); `resume` is the checkpoint's mark.
 */
export function sortedSource(
  plan: SortPlan,
  source: Source<unknown>,
  again: (() => Promise<Source<unknown>>) | undefined,
  at: { cwd: string; uri: string | undefined; signal: AbortSignal | undefined; resume: Position | undefined },
): Source<unknown> {
  let first: Source<unknown> | undefined = source
  const open = again
    ? () => {
        const given = first
        first = undefined
        return given ?? again()
      }
    : source
  return sortSource(open, {
    orderBy: plan.orderBy,
    missing: plan.missing,
    memoryBytes: plan.memoryBytes,
    ...(plan.tempDir ? { tempDir: path.resolve(at.cwd, plan.tempDir) } : {}),
    ...(at.signal ? { signal: at.signal } : {}),
    ...(at.resume ? { resume: at.resume } : {}),
    plainJson: at.uri !== undefined && isJsonScheme(at.uri),
    uri: at.uri ?? 'iterable',
  })
}
