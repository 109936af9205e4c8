import type { Client } from '@opensearch-project/opensearch'
import { HydratorError } from '../errors.js'
import { collapseByKey, type Mapping } from '../mapping.js'
import type { Sink } from '../types.js'
import { assertInteger } from '../util/options.js'
import { validateRetryPolicy, withRetry, type RetryPolicy } from '../retry.js'
import { openingFirst, rebuildName, rebuildOptionsOf, type RebuildOptions } from '../rebuild.js'
import { openOpenSearchRebuild, openSearchRebuild } from './rebuild.js'
import { defineSink, withSinkInfo, PlanOverlay, type DriverContext, type PlannedWrite, type SinkOptions, type WriteOutcome } from '../define-sink.js'
import { compileSinkMapping, validateIndexName } from './sink-mapping.js'
import { bulkAction, bulkBody, bulkItems, itemMessage, itemOutcome, type BulkItemResult, type OpenSearchWrite, type SinkMapping } from './bulk.js'
import { planAction, readDocStates, stateAfter, type DocState } from './plan.js'
import {
  describeOpenSearchError,
  isOpenSearchThrottle,
  isRetryableOpenSearchError,
  isThrottledItem,
  openSearchCause,
  openSearchConfigError,
  openSearchReason,
  openSearchStatus,
} from './errors.js'

/** The part of an `@opensearch-project/opensearch` Client the sink uses (`mget` for a dry run's plan); the caller owns the client and closes it. */
export type OpenSearchBulkClient = Pick<Client, 'bulk' | 'indices' | 'mget'>

/** Options of {@link toOpenSearch}. */
export interface ToOpenSearchOptions extends SinkOptions {
  /** An `@opensearch-project/opensearch` Client; the caller owns it and closes it. */
  readonly client: OpenSearchBulkClient
  /** The index (or write alias) to write to. */
  readonly index: string
  /**
   * The storage mapping: its one key column is the `_id`, `versionColumn` gives external versions,
   * `deleteWhen` picks the events that delete. The document is the mapped columns when the mapping
   * has columns besides the key and version columns, else the whole event.
   * @default none: the whole event is the document, its `_id` at `idPath`
   */
  readonly mapping?: Mapping
  /** Without `mapping`: the JSON path of the `_id` in the event (`detail.id`); the document is the whole event. @default 'id' */
  readonly idPath?: string
  /** Without `mapping`: the JSON path of a whole-number version; only a higher version overwrites (`version_type=external`). */
  readonly versionPath?: string
  /** Without `mapping`: events matching this EventBridge pattern (or predicate) delete the document with their `_id`. */
  readonly deleteWhen?: Mapping['deleteWhen']
  /** Actions per `_bulk` request. @default 1000 */
  readonly batchSize?: number
  /** Bytes per `_bulk` request (action and document lines). @default 5242880 (5 MiB) */
  readonly maxBatchBytes?: number
  /** `_bulk` requests in flight; two never share an `_id`, so writes to one document stay in order. @default 2 */
  readonly concurrency?: number
  /** Retries of rejected items (429), 502/503/504, timeouts and dropped connections. @default 8 attempts, 100 ms to 20 s, full jitter */
  readonly retry?: RetryPolicy
  /** Create the index when it does not exist (with these mappings and settings when given) instead of failing. @default false */
  readonly createIndex?: boolean | { readonly mappings?: Readonly<Record<string, unknown>>; readonly settings?: Readonly<Record<string, unknown>> }
  /** Refresh the index once after the last write, so everything written is searchable when the sink resolves. @default false */
  readonly refresh?: boolean
  /** The name the report shows. @default `opensearch:<index>` */
  readonly uri?: string
  /**
   * Documents a dry run's plan follows (their planned existence and version); past it the plan
   * forgets the oldest and says it is no longer exact. @default 1000000
   */
  readonly maxPlannedKeys?: number
  /**
   * Write into a new index `<index>__rebuild_<id>` made like the one the alias `index` points at
   * (its mappings and settings), and offer the swap of the alias as `sink.rebuild` (`hydrate()`
   * swaps when the run ends ok). `index` must be an alias of one index. `true` picks a random id.
   * @default undefined (write into `index` itself)
   */
  readonly rebuild?: RebuildOptions | boolean
}
/**
 * Writes events to an OpenSearch index with `_bulk`, in batches sized by count (`batchSize`) and
 * bytes (`maxBatchBytes`). Each event is an `index` action (or a `delete`, for events matching
 * `deleteWhen`) of the whole event with its `_id` from the event's `id` (or `idPath`; an event
 * without one fails with ERR_MAPPING), or of the mapped columns with the mapping's key; with a
 * version, `version_type=external` makes OpenSearch keep the highest version, and a lower or equal
 * one is a `stale` skip (409); a delete of a document that is not there is a `deleteOfMissing` skip.
 * Items are checked one by one (a bulk answers 200 even when items failed): items rejected with 429
 * (or 502/503/504) are sent again on their own with exponential backoff, and give up as
 * ERR_RETRIES_EXHAUSTED; an item OpenSearch refuses (a value that does not fit the mapping) is a
 * failure with its `_id` and OpenSearch's reason while the rest of the batch is written. Same-`_id`
 * writes in one batch are collapsed (the last, or highest version, wins; the others are
 * `duplicateInBatch` skips), and batches in flight never share an `_id`. `open` checks the index
 * exists (ERR_TARGET_NOT_FOUND) unless `createIndex`. A dry run reads each batch's documents'
 * existence and `_version` with `_mget` and plans what each action would do.
 *
 * @example
 * await pipe(readJsonLines('events.ndjson'), toOpenSearch({ client, index: 'events' })) // events as documents, `id` as _id
 * const result = await pipe(readJsonLines('events.ndjson'), toOpenSearch({
 *   client: new Client({ node: 'http://localhost:9200' }), index: 'orders',
 *   mapping: { columns: { id: 'detail.orderId', version: 'detail.version', status: 'detail.status' }, key: ['id'], versionColumn: 'version' },
 * }))
 */
export function toOpenSearch<In = unknown>(options: ToOpenSearchOptions): Sink<In> {
  if (!options || typeof options !== 'object') {
    throw new HydratorError('ERR_INVALID_OPTION', 'toOpenSearch expects an options object with `client` and `index`')
  }
  const { client } = options
  if (!client || typeof client.bulk !== 'function' || typeof client.mget !== 'function' || !client.indices || typeof client.indices.exists !== 'function') {
    throw new HydratorError(
      'ERR_INVALID_OPTION',
      `expected \`client\` to be an @opensearch-project/opensearch Client (with \`bulk\`, \`mget\` and \`indices\`), got \`${String(client)}\``,
    )
  }
  const index = validateIndexName(options.index)
  const compiled = compileSinkMapping(options)
  const batchSize = assertInteger('batchSize', options.batchSize ?? 1000, 1)
  const maxBatchBytes = assertInteger('maxBatchBytes', options.maxBatchBytes ?? 5 * 1024 * 1024, 1)
  const concurrency = assertInteger('concurrency', options.concurrency ?? 2, 1)
  const retry = validateRetryPolicy(options.retry)
  const createIndex = options.createIndex ?? false
  if (typeof createIndex !== 'boolean' && (!createIndex || typeof createIndex !== 'object')) {
    throw new HydratorError('ERR_INVALID_OPTION', `expected \`createIndex\` to be a boolean or { mappings, settings }, got \`${String(createIndex)}\``)
  }
  const uri = options.uri ?? `opensearch:${index}`
  const maxPlannedKeys = assertInteger('maxPlannedKeys', options.maxPlannedKeys ?? 1_000_000, 1)
  const rebuild = rebuildOptionsOf(options.rebuild)
  // --rebuild: the driver writes a new index, made when it opens; `createIndex` lets a dry run plan against it (empty).
  const written = rebuild ? validateIndexName(rebuildName(index, rebuild.id)) : index
  const driver = openSearchDriver(client, written, compiled, retry, uri, rebuild ? true : createIndex, options.refresh === true, maxPlannedKeys)
  const opened = rebuild ? openingFirst(driver, (context) => openOpenSearchRebuild(client, index, rebuild, context.dryRun, retry)) : driver
  const sink = defineSink<In, OpenSearchWrite>(opened, { ...options, batchSize, maxBatchBytes, concurrency })
  return rebuild ? withSinkInfo(sink, { rebuild: openSearchRebuild(client, index, rebuild, retry) }) : sink
}

/** Items sent again on their own after OpenSearch rejected them for a passing reason. */
class RetryItems extends Error {
  constructor(
    readonly count: number,
    readonly reason: string,
    /** Some item was refused for being over capacity (429, es_rejected_execution_exception). */
    readonly throttled = false,
  ) {
    super(`${count} item(s) rejected: ${reason}`)
    this.name = 'RetryItems'
  }
}

function openSearchDriver(
  client: OpenSearchBulkClient,
  index: string,
  mapping: SinkMapping,
  retry: Required<RetryPolicy>,
  uri: string,
  createIndex: NonNullable<ToOpenSearchOptions['createIndex']>,
  refreshAtEnd: boolean,
  maxPlannedKeys: number,
) {
  const versioned = mapping.compiled.mapping.versionColumn !== undefined
  let wrote = false
  let dryRun = false
  // A dry run with createIndex on a missing index: every document is missing.
  let indexMissing = false
  let overlay = new PlanOverlay<DocState>(maxPlannedKeys)

  /** Marks the writes of a batch that collapse into a later (or higher-versioned) one; returns the others. */
  const collapse = (batch: readonly OpenSearchWrite[], superseded: (i: number, by: OpenSearchWrite) => void): number[] => {
    const { survivors, survivorOf } = collapseByKey(batch.map((w) => w.row))
    for (let i = 0; i < batch.length; i++) if (survivorOf[i] !== i) superseded(i, batch[survivorOf[i]!]!)
    return survivors
  }

  /** Sends the items at `indices` of `batch`, resending those rejected for a passing reason; fills `outcomes`. */
  const send = async (batch: readonly OpenSearchWrite[], indices: number[], outcomes: WriteOutcome[], context: DriverContext): Promise<void> => {
    let pending = indices
    let attempts = 0
    // The last rejection of each item still pending, for its failure message.
    const lastRejection = new Map<number, BulkItemResult>()
    // Items of a request that failed without an answer: OpenSearch may have applied them.
    const maybeApplied = new Set<number>()
    try {
      await withRetry(
        async (attempt) => {
          attempts = attempt
          let response
          try {
            // The sink retries (per item, with backoff); the client's own retries would hide lost answers.
            response = await client.bulk({ index, body: bulkBody(batch, pending) } as never, { maxRetries: 0 })
          } catch (error) {
            if (openSearchStatus(error) !== 429) for (const i of pending) maybeApplied.add(i)
            throw error
          }
          const items = bulkItems(response.body, batch, pending)
          const again: number[] = []
          let reason = ''
          for (let j = 0; j < pending.length; j++) {
            const i = pending[j]!
            const item = items[j]!
            const outcome = itemOutcome(index, batch[i]!, item, attempt, maybeApplied.has(i))
            if (outcome === 'retry') {
              again.push(i)
              reason ||= item.error?.type ?? `HTTP ${item.status}`
              lastRejection.set(i, item)
            } else {
              outcomes[i] = outcome
            }
          }
          pending = again
          if (again.length > 0) throw new RetryItems(again.length, reason, again.some((i) => isThrottledItem(lastRejection.get(i))))
        },
        retry,
        {
          isRetryable: (e) => e instanceof RetryItems || isRetryableOpenSearchError(e),
          onRetry: (reason) => context.retried(reason),
          reasonOf: (e) => (e instanceof RetryItems ? e.reason : openSearchReason(e)),
          isThrottle: (e) => (e instanceof RetryItems ? e.throttled : isOpenSearchThrottle(e)),
          throttle: context.throttle,
        },
      )
    } catch (error) {
      if (error instanceof RetryItems) {
        for (const i of pending) {
          outcomes[i] = {
            status: 'failed',
            code: 'ERR_RETRIES_EXHAUSTED',
            message: `${itemMessage(index, batch[i]!, lastRejection.get(i) ?? { status: 429, error: { type: error.reason } })} (gave up after ${attempts} attempts)`,
            key: batch[i]!.id,
            attempts,
          }
        }
        return
      }
      const status = openSearchStatus(error)
      if (status === 401 || status === 403) throw openSearchConfigError(error, `index \`${index}\``)!
      if (status === 413) {
        // Too big for the cluster's http.max_content_length: halve until it fits.
        if (pending.length > 1) {
          const half = Math.ceil(pending.length / 2)
          await send(batch, pending.slice(0, half), outcomes, context)
          await send(batch, pending.slice(half), outcomes, context)
          return
        }
        const i = pending[0]!
        outcomes[i] = {
          status: 'failed',
          code: 'ERR_ITEM_TOO_LARGE',
          message: `${index} ${JSON.stringify(batch[i]!.id)}: the document (${batch[i]!.bytes} bytes) is larger than the cluster accepts in one request (HTTP 413)`,
          key: batch[i]!.id,
          attempts,
        }
        return
      }
      // The request as a whole failed: the items not yet settled fail with its reason; those
      // settled in an earlier attempt keep their outcome, so the counts stay true.
      const retryable = isRetryableOpenSearchError(error)
      for (const i of pending) {
        outcomes[i] = {
          status: 'failed',
          code: retryable ? 'ERR_RETRIES_EXHAUSTED' : error instanceof HydratorError ? error.code : 'ERR_WRITE_REJECTED',
          message: `${index} ${JSON.stringify(batch[i]!.id)}: bulk request failed: ${describeOpenSearchError(error)}${retryable ? ` (gave up after ${attempts} attempts)` : ''}`,
          key: batch[i]!.id,
          attempts,
        }
      }
    }
  }

  return {
    uri,

    async open(context: DriverContext) {
      dryRun = context.dryRun
      indexMissing = false
      overlay = new PlanOverlay<DocState>(maxPlannedKeys)
      let exists: boolean
      try {
        const response = await withRetry(() => client.indices.exists({ index }), retry, {
          isRetryable: isRetryableOpenSearchError,
          reasonOf: openSearchReason,
          signal: context.signal,
        })
        exists = response.body === true
      } catch (error) {
        throw openSearchConfigError(error, `index \`${index}\``) ??
          new HydratorError('ERR_CONNECTION', `cannot reach OpenSearch to check index \`${index}\`: ${describeOpenSearchError(error)}`, { cause: error })
      }
      if (exists) return
      if (!createIndex) {
        throw new HydratorError(
          'ERR_TARGET_NOT_FOUND',
          `OpenSearch index \`${index}\` does not exist: create it with its mapping first, or let the sink create it (createIndex: true, ?create=true)`,
        )
      }
      if (context.dryRun) {
        indexMissing = true
        return
      }
      const body = typeof createIndex === 'object' ? { ...(createIndex.mappings ? { mappings: createIndex.mappings } : {}), ...(createIndex.settings ? { settings: createIndex.settings } : {}) } : {}
      try {
        await client.indices.create({ index, body } as never)
      } catch (error) {
        // Another writer created it first: fine.
        if (openSearchCause(error).type === 'resource_already_exists_exception') return
        throw openSearchConfigError(error, `index \`${index}\``) ??
          new HydratorError('ERR_CONNECTION', `cannot create index \`${index}\`: ${describeOpenSearchError(error)}`, { cause: error })
      }
    },

    prepare: (event: unknown): OpenSearchWrite => bulkAction(mapping, event),

    keyOf: (w: OpenSearchWrite) => w.id,
    collapsesByKey: true,

    sizeOf: (w: OpenSearchWrite) => w.bytes,

    async write(batch: readonly OpenSearchWrite[], context: DriverContext): Promise<readonly WriteOutcome[]> {
      const outcomes: WriteOutcome[] = new Array(batch.length)
      const survivors = collapse(batch, (i, by) => {
        outcomes[i] = {
          status: 'skipped',
          reason: 'duplicateInBatch',
          key: batch[i]!.id,
          message: versioned ? `superseded by version ${by.version} of the same _id in this batch` : 'superseded by a later write to the same _id in this batch',
        }
      })
      await send(batch, survivors, outcomes, context)
      wrote = true
      return outcomes
    },

    async plan(batch: readonly OpenSearchWrite[], context: DriverContext): Promise<readonly PlannedWrite[]> {
      const planned: PlannedWrite[] = new Array(batch.length)
      const survivors = collapse(batch, (i) => {
        const w = batch[i]!
        planned[i] = { op: 'skip', reason: 'duplicateInBatch', key: w.id, ...(w.action === 'index' ? { next: w.document } : {}) }
      })
      const unknown = indexMissing ? [] : survivors.map((i) => batch[i]!.id).filter((id) => !overlay.has(id))
      const stored = unknown.length > 0 ? await readDocStates(client, index, unknown, retry, context.retried) : new Map<string, DocState>()
      for (const i of survivors) {
        const w = batch[i]!
        const before = overlay.has(w.id) ? overlay.get(w.id) : stored.get(w.id)
        const p = planAction(w, before)
        const after = stateAfter(w, p, before)
        if (after) overlay.set(w.id, after)
        planned[i] = p
      }
      return planned
    },

    planIsExact: () => overlay.exact,

    async close() {
      if (!refreshAtEnd || dryRun || !wrote) return
      try {
        await client.indices.refresh({ index })
      } catch {
        // Written documents become searchable with the next periodic refresh anyway.
      }
    },
  }
}
