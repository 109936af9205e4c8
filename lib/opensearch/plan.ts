// Dry runs of the OpenSearch sink that show a plan: whether each document of a batch exists and its
// `_version`, read with `_mget` (read-only, realtime, no `_source`), and what the bulk action of each
// event would do with them.
import type { Client } from '@opensearch-project/opensearch'
import { HydratorError } from '../errors.js'
import type { PlannedWrite } from '../define-sink.js'
import { withRetry, type RetryPolicy } from '../retry.js'
import type { OpenSearchWrite } from './bulk.js'
import { describeOpenSearchError, isRetryableOpenSearchError, openSearchConfigError, openSearchReason } from './errors.js'

/**
 * A document as the plan knows it: whether it exists, and its `_version` (with external versions,
 * the version a deleted document's tombstone keeps, as far as the plan wrote it).
 */
export interface DocState {
  readonly exists: boolean
  readonly version?: number
}

const ABSENT: DocState = Object.freeze({ exists: false })

interface MgetDoc {
  _id?: string
  _version?: number
  found?: boolean
  error?: { type?: string; reason?: string }
}

/** Documents `_mget` answered with an error of their own (a shard not available): read again. */
class DocErrors extends Error {
  constructor(readonly type: string, reason: string) {
    super(`${type}: ${reason}`)
    this.name = type
  }
}

/**
 * @internal The state of the documents `ids` (distinct) of `index`: one `_mget` without `_source`,
 * retried under `retry` for 429, 502/503/504, dropped connections and documents answered with an
 * error. A missing index or refused credentials throw as configuration errors; a read that keeps
 * failing throws ERR_RETRIES_EXHAUSTED (or ERR_CONNECTION), failing the batch in the dry run.
 */
export async function readDocStates(
  client: Pick<Client, 'mget'>,
  index: string,
  ids: readonly string[],
  retry: Required<RetryPolicy>,
  retried: (reason: string) => void,
): Promise<Map<string, DocState>> {
  const states = new Map<string, DocState>()
  try {
    await withRetry(
      async () => {
        const response = await client.mget({ index, body: { ids }, _source: false } as never, { maxRetries: 0 })
        const docs = ((response.body as { docs?: MgetDoc[] }).docs ?? []) as MgetDoc[]
        for (const doc of docs) {
          if (doc.error) {
            if (doc.error.type === 'index_not_found_exception') {
              throw new HydratorError('ERR_TARGET_NOT_FOUND', `OpenSearch index \`${index}\` does not exist (${doc.error.reason ?? doc.error.type})`)
            }
            throw new DocErrors(doc.error.type ?? 'error', doc.error.reason ?? 'no reason given')
          }
          if (doc._id === undefined) continue
          states.set(doc._id, doc.found ? { exists: true, ...(typeof doc._version === 'number' ? { version: doc._version } : {}) } : ABSENT)
        }
      },
      retry,
      {
        isRetryable: (e) => e instanceof DocErrors || isRetryableOpenSearchError(e),
        onRetry: (reason) => retried(reason),
        reasonOf: (e) => (e instanceof DocErrors ? e.name : openSearchReason(e)),
      },
    )
  } catch (error) {
    const config = openSearchConfigError(error, `index \`${index}\``)
    if (config) throw config
    const retryable = error instanceof DocErrors || isRetryableOpenSearchError(error)
    throw new HydratorError(
      retryable ? 'ERR_RETRIES_EXHAUSTED' : 'ERR_CONNECTION',
      `reading ${ids.length} document version(s) of \`${index}\` for the plan (_mget): ${error instanceof DocErrors ? error.message : describeOpenSearchError(error)}${retryable ? ` (gave up after ${(error as { attempts?: number }).attempts ?? retry.attempts} attempts)` : ''}`,
      { cause: error },
    )
  }
  return states
}

/**
 * @internal What the bulk action of `w` (already past the batch's collapsing) does to a document
 * in `state`, as OpenSearch decides it: with an external version, a stored (or tombstone) version
 * equal or higher makes it `stale` (409); a delete of a document that is not there finds nothing
 * (`deleteOfMissing`, 404 not_found); otherwise an index inserts or updates, a delete deletes.
 */
export function planAction(w: OpenSearchWrite, state: DocState | undefined): PlannedWrite {
  const s = state ?? ABSENT
  const key = w.id
  const current = s.exists ? { _version: s.version } : undefined
  const next = w.action === 'index' ? { next: w.document } : {}
  if (w.version !== undefined && s.version !== undefined && s.version >= w.version) return { op: 'skip', reason: 'stale', key, current, ...next }
  if (w.action === 'delete') return s.exists ? { op: 'delete', key, current } : { op: 'skip', reason: 'deleteOfMissing', key }
  return s.exists ? { op: 'update', key, current, ...next } : { op: 'insert', key, ...next }
}

/**
 * @internal The state a planned action leaves, or undefined when it changes nothing. With an
 * external version a delete leaves a tombstone with its version, also when nothing was there.
 */
export function stateAfter(w: OpenSearchWrite, planned: PlannedWrite, before: DocState | undefined): DocState | undefined {
  if (planned.op === 'fail' || (planned.op === 'skip' && !(planned.reason === 'deleteOfMissing' && w.version !== undefined))) return undefined
  if (w.version !== undefined) return { exists: w.action === 'index', version: w.version }
  if (w.action === 'delete') return ABSENT
  // Internal versioning counts every write.
  return { exists: true, version: (before?.version ?? 0) + 1 }
}
