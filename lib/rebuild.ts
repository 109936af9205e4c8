// `--rebuild`: a storage sink writes into a fresh copy of its target (`users__rebuild_<run>`), and
// the copy is swapped in at once when the run ends `ok`. This file holds what every sink shares:
// the names, the options, and what the run report says; each sink's own `rebuild.ts` creates its
// copy and swaps it (PostgreSQL, SQL Server, OpenSearch; DynamoDB writes a new table).
import { createHash, randomBytes } from 'node:crypto'
import { HydratorError, errorCode, errorMessage } from './errors.js'
import type { DriverContext } from './define-sink.js'
import type { RunReport } from './report/schema.js'
import type { SinkRebuild } from './types.js'

/** How a sink writes beside its live target (`rebuild` in a storage sink's options). */
export interface RebuildOptions {
  /**
   * The run's id in the copy's name, `<table>__rebuild_<id>`: lower-case letters and digits, 1 to
   * 16. `hydrate()` derives it from the checkpoint's place, so a resumed run finds its copy.
   */
  readonly id: string
  /** After the swap, keep the previous target as `<table>__old_<yyyymmddhhmmss>` instead of dropping it. @default false */
  readonly keepOld?: boolean
  /**
   * A resumed run: the copy must exist (a checkpoint's events are in it), and writing goes on into
   * it; a missing copy is ERR_TARGET_NOT_FOUND. Otherwise the copy is created, and one left by an
   * earlier run of the same id (killed before its first checkpoint) is dropped first. @default false
   */
  readonly resume?: boolean
}

const ID = /^[a-z0-9]{1,16}$/

/**
 * Checks a sink's `rebuild` option: `true` (a fresh copy with a random id), or {@link RebuildOptions}.
 * Undefined and `false` mean no rebuild.
 *
 * @example
 * const rebuild = rebuildOptionsOf(options.rebuild) // { id: '1a2b3c4d' } for `true`
 */
export function rebuildOptionsOf(value: unknown): RebuildOptions | undefined {
  if (value === undefined || value === false || value === null) return undefined
  if (value === true) return { id: rebuildId() }
  if (typeof value !== 'object' || Array.isArray(value)) {
    throw new HydratorError('ERR_INVALID_OPTION', `expected \`rebuild\` to be true or { id, keepOld?, resume? }, got \`${String(value)}\``)
  }
  const { id, keepOld, resume } = value as Record<string, unknown>
  if (typeof id !== 'string' || !ID.test(id)) {
    throw new HydratorError('ERR_INVALID_OPTION', `expected \`rebuild.id\` to be 1 to 16 lower-case letters and digits, got \`${String(id).slice(0, 40)}\``)
  }
  for (const [name, v] of [['keepOld', keepOld], ['resume', resume]] as const) {
    if (v !== undefined && typeof v !== 'boolean') throw new HydratorError('ERR_INVALID_OPTION', `expected \`rebuild.${name}\` to be a boolean, got \`${String(v)}\``)
  }
  return { id, ...(keepOld ? { keepOld: true } : {}), ...(resume ? { resume: true } : {}) }
}

/**
 * The id of a rebuild: 8 hex digits of a digest of the checkpoint's place (so every resume of one
 * checkpoint writes into the same copy), or random without a checkpoint.
 */
export function rebuildId(checkpoint?: string): string {
  if (checkpoint === undefined) return randomBytes(4).toString('hex')
  return createHash('sha256').update(`rebuild\0${checkpoint}`).digest('hex').slice(0, 8)
}

/**
 * Checks `rebuild` and `keepOld` as `hydrate()` takes them: true when the run rebuilds beside its
 * target. Refused with a share (`shared`): a share cannot know when the others are done, and a copy
 * swapped in before all of them are would serve a half table.
 */
export function rebuildWanted(options: { readonly rebuild?: unknown; readonly keepOld?: unknown }, shared: boolean): boolean {
  for (const name of ['rebuild', 'keepOld'] as const) {
    const v = options[name]
    if (v !== undefined && typeof v !== 'boolean') throw new HydratorError('ERR_INVALID_OPTION', `expected \`${name}\` to be a boolean, got \`${String(v)}\``)
  }
  if (options.keepOld && !options.rebuild) throw new HydratorError('ERR_USAGE', '--keep-old keeps the table a --rebuild replaces: add --rebuild')
  if (!options.rebuild) return false
  if (shared) {
    throw new HydratorError('ERR_USAGE', '--rebuild cannot run as a --share: the swap needs every share done; rebuild in one run, or write the shares into a table of your own and swap it yourself')
  }
  return true
}

/** A sink driver whose `open` first runs `prepare` (a rebuild makes its copy before the driver checks it). */
export function openingFirst<D extends { open?(context: DriverContext): Promise<void> }>(driver: D, prepare: (context: DriverContext) => Promise<unknown>): D {
  return {
    ...driver,
    async open(context: DriverContext) {
      await prepare(context)
      await driver.open?.(context)
    },
  }
}

/** The copy's name: `users` -> `users__rebuild_1a2b3c4d`. */
export const rebuildName = (name: string, id: string): string => `${name}__rebuild_${id}`

/** The name the previous target keeps with `keepOld`: `users` -> `users__old_20261206121500` (UTC). */
export function oldName(name: string, now = new Date()): string {
  return `${name}__old_${now.toISOString().replace(/\D/g, '').slice(0, 14)}`
}

/** Throws ERR_INVALID_OPTION when a name the rebuild makes is longer than the target allows. */
export function checkNameLength(name: string, max: number, what: string, bytes = true): void {
  const length = bytes ? Buffer.byteLength(name) : name.length
  if (length > max) {
    throw new HydratorError(
      'ERR_INVALID_OPTION',
      `--rebuild: the ${what} name \`${name}\` would be ${length} ${bytes ? 'bytes' : 'characters'}, over the limit of ${max}: rename the target to a shorter name, or rebuild without --rebuild`,
    )
  }
}

/**
 * Ends a rebuild after its run: swaps the copy in when the run ended `ok` (a swap that fails makes
 * the run `failed` with its error, and leaves the target untouched), and says in the report what
 * happened. A dry run says what would be created and swapped.
 */
export async function finishRebuild(report: RunReport, rebuild: SinkRebuild): Promise<RunReport> {
  const base = { target: rebuild.live, table: rebuild.table }
  if (report.dryRun) {
    const message = rebuild.swapless
      ? `would create ${rebuild.table} like ${rebuild.live} and write into it (DynamoDB cannot rename a table: point the service at the new table)`
      : `would create ${rebuild.table} like ${rebuild.live}, write into it, and if the run ends ok swap it in at once, ${rebuild.keepOld ? `keeping the previous ${rebuild.live} as ${oldName(rebuild.live)}` : `dropping the previous ${rebuild.live}`}`
    return { ...report, rebuild: { ...base, state: 'planned', message } }
  }
  if (report.status !== 'ok') {
    const message = `the run ended ${report.status}: ${rebuild.live} is untouched, and ${rebuild.table} is left as it is to inspect; resume with the same --checkpoint to go on writing into it, or drop it`
    return { ...report, rebuild: { ...base, state: 'pending', message } }
  }
  if (rebuild.swapless) {
    const message = `DynamoDB cannot rename a table: the events were written into the new table ${rebuild.table}, and ${rebuild.live} is untouched; point the service at ${rebuild.table}, then delete ${rebuild.live}`
    return { ...report, rebuild: { ...base, state: 'written', message } }
  }
  try {
    const swap = await rebuild.swap()
    const message = `${rebuild.table} took the place of ${rebuild.live} at once; ${swap.old ? `the previous one is kept as ${swap.old}` : 'the previous one was dropped'}`
    return { ...report, rebuild: { ...base, state: 'swapped', ...(swap.old ? { old: swap.old } : {}), steps: [...swap.steps], message } }
  } catch (error) {
    const message = `the swap failed, ${rebuild.live} is untouched and ${rebuild.table} is left in place: ${errorMessage(error)}`
    return {
      ...report,
      status: 'failed',
      error: { code: errorCode(error), message },
      rebuild: { ...base, state: 'pending', message },
    }
  }
}

const NOTHING_TO_SWAP = Symbol('event-hydrator.nothing-to-swap')

/**
 * The error a swap gives when its copy is not there to swap in (or is in place already): for a
 * rebuild started again after its checkpoint said complete, that run swapped it. Any other missing
 * target (the live table gone, say) is a failure, not this.
 */
export function nothingToSwap(message: string): HydratorError {
  return Object.defineProperty(new HydratorError('ERR_TARGET_NOT_FOUND', message), NOTHING_TO_SWAP, { value: true })
}

/**
 * A rebuild whose checkpoint says complete when it starts again: the run before was stopped between
 * its last checkpoint and its swap, so the swap is done now; when the copy is gone, that run
 * swapped it, and nothing is left to do.
 */
export async function swapLeftOver(report: RunReport, rebuild: SinkRebuild): Promise<RunReport> {
  if (rebuild.swapless) return finishRebuild(report, rebuild)
  try {
    const swap = await rebuild.swap()
    const message = `the checkpoint was complete but the copy was not swapped yet: ${rebuild.table} took the place of ${rebuild.live}; ${swap.old ? `the previous one is kept as ${swap.old}` : 'the previous one was dropped'}`
    return { ...report, rebuild: { target: rebuild.live, table: rebuild.table, state: 'swapped', ...(swap.old ? { old: swap.old } : {}), steps: [...swap.steps], message } }
  } catch (error) {
    if ((error as Record<symbol, unknown> | null)?.[NOTHING_TO_SWAP] === true) {
      return { ...report, rebuild: { target: rebuild.live, table: rebuild.table, state: 'swapped', message: `nothing left to swap: ${errorMessage(error)} (the run that completed swapped it)` } }
    }
    const message = `the swap failed, ${rebuild.live} is untouched and ${rebuild.table} is left in place: ${errorMessage(error)}`
    return { ...report, status: 'failed', error: { code: errorCode(error), message }, rebuild: { target: rebuild.live, table: rebuild.table, state: 'pending', message } }
  }
}
