// `--rebuild` for OpenSearch: the target must be an alias of one index. The copy is a new index
// `<alias>__rebuild_<id>` with the old index's mappings and settings (less those OpenSearch sets
// itself); the swap moves the alias, and the old index's other aliases, in one `_aliases` request,
// which OpenSearch applies as one cluster state update: a search through the alias sees the old
// index or the new one. An index cannot be renamed, so `keepOld` keeps the old index with a dated
// alias `<alias>__old_<stamp>`; otherwise the same request removes it (`remove_index`).
import type { Client } from '@opensearch-project/opensearch'
import { HydratorError } from '../errors.js'
import { checkNameLength, nothingToSwap, oldName, rebuildName, type RebuildOptions } from '../rebuild.js'
import { withRetry, type RetryPolicy } from '../retry.js'
import type { RebuildSwap, SinkRebuild } from '../types.js'
import { describeOpenSearchError, isRetryableOpenSearchError, openSearchConfigError, openSearchReason, openSearchStatus } from './errors.js'

/** The part of a Client a rebuild uses. */
export type OpenSearchRebuildClient = Pick<Client, 'indices'>

/**
 * Settings OpenSearch sets on an index itself: creating an index with one is refused (`private
 * index setting [index.uuid] can not be set explicitly`), so the copy is created without them.
 * Write blocks are left out too: the copy is written into.
 */
const NOT_ON_CREATE = [
  'index.uuid',
  'index.version',
  'index.creation_date',
  'index.provided_name',
  'index.resize',
  'index.routing.allocation.initial_recovery',
  'index.history.uuid',
  'index.verified_before_close',
  'index.blocks',
  'index.replication.type',
]

/** An index's settings as `flat_settings` shows them, less those {@link NOT_ON_CREATE}. */
export function creatableSettings(flat: Readonly<Record<string, unknown>>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(flat).filter(([key]) => !NOT_ON_CREATE.some((p) => key === p || key.startsWith(`${p}.`))))
}

const body = <T>(response: { body: unknown }) => response.body as T

/** The one index an alias points at; a clear error for a missing alias, a plain index, or several indices. */
async function indexOfAlias(client: OpenSearchRebuildClient, alias: string, call: <T>(fn: () => Promise<T>) => Promise<T>): Promise<{ index: string; aliases: Record<string, Record<string, unknown>> }> {
  let found: Record<string, { aliases?: Record<string, Record<string, unknown>> }>
  try {
    found = body(await call(() => client.indices.getAlias({ name: alias })))
  } catch (error) {
    if (openSearchStatus(error) !== 404) throw error
    const isIndex = body<boolean>(await call(() => client.indices.exists({ index: alias })))
    throw isIndex
      ? new HydratorError(
          'ERR_TARGET_SCHEMA',
          `--rebuild: \`${alias}\` is an index, not an alias: a rebuild swaps an alias from the old index to the new one. Make \`${alias}\` an alias once (reindex it into \`${alias}_v1\`, delete it, and add the alias \`${alias}\` to \`${alias}_v1\`), then rebuild`,
        )
      : new HydratorError('ERR_TARGET_NOT_FOUND', `--rebuild: there is no alias \`${alias}\` (nor an index of that name): a rebuild swaps an alias, create it first`)
  }
  const indices = Object.keys(found).sort()
  if (indices.length !== 1) {
    throw new HydratorError('ERR_TARGET_SCHEMA', `--rebuild: the alias \`${alias}\` points at ${indices.length} indices (${indices.join(', ')}): a rebuild swaps an alias of one index`)
  }
  return { index: indices[0]!, aliases: found[indices[0]!]!.aliases ?? {} }
}

/** What the sink writes into once {@link openOpenSearchRebuild} has prepared the copy. */
export interface OpenSearchCopy {
  readonly index: string
  /** False in a dry run whose copy is not there yet. */
  readonly exists: boolean
}

/**
 * Checks the alias, then (not in a dry run) creates the copy with the old index's mappings and
 * settings, or finds it for a resumed run.
 */
export async function openOpenSearchRebuild(client: OpenSearchRebuildClient, alias: string, rebuild: RebuildOptions, dryRun: boolean, retry: RetryPolicy): Promise<OpenSearchCopy> {
  const call = <T>(fn: () => Promise<T>) => withRetry(fn, retry, { isRetryable: isRetryableOpenSearchError, reasonOf: openSearchReason })
  const copy = rebuildName(alias, rebuild.id)
  checkNameLength(copy, 255, 'rebuild index')
  checkNameLength(oldName(alias), 255, 'kept old alias')
  try {
    const { index: old } = await indexOfAlias(client, alias, call)
    // An index cannot be renamed: after a swap the alias points at the copy, which a new rebuild
    // with the same checkpoint location would take for its leftover and delete.
    if (old === copy) {
      throw new HydratorError(
        'ERR_TARGET_SCHEMA',
        `--rebuild: the alias \`${alias}\` points at \`${copy}\`, the index an earlier rebuild with this checkpoint made and swapped in: rebuilding it under the same name would delete it. Use another --checkpoint location (it names the rebuild)`,
      )
    }
    const exists = body<boolean>(await call(() => client.indices.exists({ index: copy })))
    if (rebuild.resume) {
      if (!exists) throw new HydratorError('ERR_TARGET_NOT_FOUND', `--rebuild: the checkpoint's events were written into the index \`${copy}\`, which is gone: delete the checkpoint to rebuild from the start`)
      return { index: copy, exists: true }
    }
    if (dryRun) return { index: copy, exists: false }
    // Left by a run of this id that stopped before its first checkpoint: it starts over.
    if (exists) await call(() => client.indices.delete({ index: copy }))
    const mappings = body<Record<string, { mappings?: unknown }>>(await call(() => client.indices.getMapping({ index: old })))[old]?.mappings
    const settings = body<Record<string, { settings?: Record<string, unknown> }>>(await call(() => client.indices.getSettings({ index: old, flat_settings: true })))[old]?.settings ?? {}
    await call(() => client.indices.create({ index: copy, body: { ...(mappings ? { mappings } : {}), settings: creatableSettings(settings) } } as never))
    return { index: copy, exists: true }
  } catch (error) {
    throw openSearchConfigError(error, `alias \`${alias}\``) ?? new HydratorError('ERR_CONNECTION', `--rebuild: cannot prepare the copy of \`${alias}\`: ${describeOpenSearchError(error)}`, { cause: error })
  }
}

/**
 * Swaps the copy in with one `_aliases` request: every alias of the old index moves to the copy
 * (with its filter and routing), and the old index is removed in the same request, or given the
 * alias `<alias>__old_<stamp>` with `keepOld`. The copy is refreshed first, so the alias shows
 * every document the moment it moves.
 */
export async function swapOpenSearch(client: OpenSearchRebuildClient, alias: string, rebuild: RebuildOptions, retry: RetryPolicy): Promise<RebuildSwap> {
  const call = <T>(fn: () => Promise<T>) => withRetry(fn, retry, { isRetryable: isRetryableOpenSearchError, reasonOf: openSearchReason })
  const copy = rebuildName(alias, rebuild.id)
  try {
    const { index: old } = await indexOfAlias(client, alias, call)
    if (old === copy) throw nothingToSwap(`--rebuild: the alias \`${alias}\` already points at the rebuild index \`${copy}\`; nothing was swapped`)
    if (!body<boolean>(await call(() => client.indices.exists({ index: copy })))) {
      throw nothingToSwap(`--rebuild: the rebuild index \`${copy}\` does not exist; nothing was swapped`)
    }
    const all = body<Record<string, { aliases?: Record<string, Record<string, unknown>> }>>(await call(() => client.indices.getAlias({ index: old })))[old]?.aliases ?? {}
    const kept = rebuild.keepOld ? oldName(alias) : undefined
    const actions: Record<string, unknown>[] = []
    for (const [name, props] of Object.entries(all)) {
      actions.push({ remove: { index: old, alias: name } })
      actions.push({ add: { index: copy, alias: name, ...props } })
    }
    actions.push(kept ? { add: { index: old, alias: kept } } : { remove_index: { index: old } })
    await call(() => client.indices.refresh({ index: copy }))
    await call(() => client.indices.updateAliases({ body: { actions } } as never))
    return { ...(kept ? { old: `${kept} (the index ${old})` } : {}), steps: [`POST /_aliases ${JSON.stringify({ actions })}`] }
  } catch (error) {
    if (error instanceof HydratorError) throw error
    throw openSearchConfigError(error, `alias \`${alias}\``) ?? new HydratorError('ERR_CONNECTION', `--rebuild: the swap of \`${alias}\` failed: ${describeOpenSearchError(error)}`, { cause: error })
  }
}

/** The sink's {@link SinkRebuild}. */
export function openSearchRebuild(client: OpenSearchRebuildClient, alias: string, rebuild: RebuildOptions, retry: RetryPolicy): SinkRebuild {
  return { live: alias, table: rebuildName(alias, rebuild.id), ...(rebuild.keepOld ? { keepOld: true } : {}), swap: () => swapOpenSearch(client, alias, rebuild, retry) }
}
