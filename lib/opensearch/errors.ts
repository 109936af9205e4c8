import { HydratorError, errorMessage } from '../errors.js'
import { isNetworkError } from '../retry.js'

// How the OpenSearch client's errors are read, by the source and the sink alike.

interface ResponseErrorLike {
  name?: string
  statusCode?: number
  meta?: { statusCode?: number; body?: unknown }
  body?: unknown
  code?: string
}

/** @internal The shard report of a search answer. */
export interface ShardsBody {
  timed_out?: boolean
  _shards?: { total?: number; failed?: number; failures?: { reason?: { type?: string; reason?: string } }[] }
}

/** @internal A page with failed shards is partial: a PIT gone on some shard is reopened, anything else fails the read. */
export function checkShards(body: ShardsBody, index: string): void {
  if (body.timed_out) throw new PartialPage(`the search of \`${index}\` timed out on some shards`)
  const failed = body._shards?.failed ?? 0
  if (failed > 0) {
    const failures = body._shards?.failures ?? []
    if (failures.some((f) => f.reason?.type === 'search_context_missing_exception')) throw new PitGone()
    const first = failures[0]?.reason
    throw new PartialPage(`${failed} shard(s) of \`${index}\` failed${first ? `: ${first.type}: ${first.reason}` : ''}`)
  }
}

class PartialPage extends Error {
  override name = 'PartialPage'
}
class PitGone extends Error {
  override name = 'search_context_missing_exception'
}

/** @internal The HTTP status of a client error that got a response. */
export function openSearchStatus(error: unknown): number | undefined {
  const e = error as ResponseErrorLike | null
  if (!e || typeof e !== 'object') return undefined
  return e.meta?.statusCode ?? (typeof e.statusCode === 'number' ? e.statusCode : undefined)
}

/** @internal The `{ type, reason }` of an OpenSearch error body (the root cause when there is one). */
export function openSearchCause(error: unknown): { type?: string; reason?: string } {
  const body = ((error as ResponseErrorLike | null)?.meta?.body ?? (error as ResponseErrorLike | null)?.body) as
    | { error?: { type?: string; reason?: string; root_cause?: { type?: string; reason?: string }[] } | string }
    | undefined
  const e = body?.error
  if (typeof e === 'string') return { reason: e }
  if (!e) return {}
  const root = e.root_cause?.[0]
  return root?.type ? { type: root.type, reason: root.reason } : { type: e.type, reason: e.reason }
}

/** @internal A short, payload-free description of a client error: `index_not_found_exception: no such index [x]`. */
export function describeOpenSearchError(error: unknown): string {
  const cause = openSearchCause(error)
  const status = openSearchStatus(error)
  if (cause.type || cause.reason) return `${cause.type ? `${cause.type}: ` : ''}${cause.reason ?? ''}${status ? ` (HTTP ${status})` : ''}`
  if (status) return `HTTP ${status}`
  return errorMessage(error)
}

/** @internal The reason a retry is counted under: the OpenSearch error type, or the client error name. */
export function openSearchReason(error: unknown): string {
  const cause = openSearchCause(error)
  if (cause.type) return cause.type
  const status = openSearchStatus(error)
  if (status) return `HTTP ${status}`
  const e = error as ResponseErrorLike | null
  return e?.code || (e?.name && e.name !== 'Error' ? e.name : 'Error')
}

/** @internal True for a passing problem: 429, 502/503/504, a timeout, a dropped connection, a partial page. */
export function isRetryableOpenSearchError(error: unknown): boolean {
  if (!error || typeof error !== 'object') return false
  if (error instanceof PartialPage) return true
  const e = error as ResponseErrorLike
  if (e.name === 'ConnectionError' || e.name === 'TimeoutError' || e.name === 'NoLivingConnectionsError') return true
  if (isNetworkError(error)) return true
  const status = openSearchStatus(error)
  return status === 429 || status === 502 || status === 503 || status === 504
}

/** OpenSearch's error types for a node or cluster over its capacity (a full write queue, a tripped breaker). */
const THROTTLE_TYPES: ReadonlySet<string> = new Set(['es_rejected_execution_exception', 'rejected_execution_exception', 'opensearch_rejected_execution_exception', 'circuit_breaking_exception', 'too_many_requests'])

/**
 * @internal True when OpenSearch refused a request or a bulk item for being over capacity (`--rate
 * auto` backs off): HTTP 429, or a rejected-execution or circuit-breaker error type.
 */
export function isOpenSearchThrottle(error: unknown): boolean {
  if (openSearchStatus(error) === 429) return true
  const type = openSearchCause(error).type
  return type !== undefined && THROTTLE_TYPES.has(type)
}

/** @internal {@link isOpenSearchThrottle} for one item of a `_bulk` answer. */
export function isThrottledItem(item: { status?: number; error?: { type?: string } } | undefined): boolean {
  return item?.status === 429 || (item?.error?.type !== undefined && THROTTLE_TYPES.has(item.error.type))
}

/** @internal True when a point in time is gone (expired, deleted, its node restarted). */
export function isPitMissing(error: unknown): boolean {
  if (error instanceof PitGone) return true
  const status = openSearchStatus(error)
  if (status !== 404) return false
  const body = (error as ResponseErrorLike).meta?.body as { error?: { type?: string; root_cause?: { type?: string }[] } } | undefined
  const e = body?.error
  return !!e && (e.type === 'search_context_missing_exception' || !!e.root_cause?.some((c) => c.type === 'search_context_missing_exception'))
}

/** @internal Maps an error to a configuration error (missing index, auth, a rejected request), when it is one. */
export function openSearchConfigError(error: unknown, what: string): HydratorError | undefined {
  if (error instanceof HydratorError) return error.code === 'ERR_SOURCE_READ' || error.code === 'ERR_CONNECTION' ? undefined : error
  const status = openSearchStatus(error)
  const cause = openSearchCause(error)
  if (status === 401 || status === 403) {
    return new HydratorError('ERR_AUTH', `not allowed to use ${what}: ${describeOpenSearchError(error)}`, { cause: error })
  }
  if (cause.type === 'index_not_found_exception') {
    return new HydratorError('ERR_TARGET_NOT_FOUND', `OpenSearch ${what} does not exist (${cause.reason ?? 'index_not_found_exception'})`, { cause: error })
  }
  if (status === 400) {
    const schema = /in order to sort on|Text fields are not optimised|Fielddata|fielddata|No mapping found/.test(cause.reason ?? '')
    return new HydratorError(
      schema ? 'ERR_TARGET_SCHEMA' : 'ERR_INVALID_OPTION',
      `OpenSearch rejected the request on ${what}: ${describeOpenSearchError(error)}`,
      { cause: error },
    )
  }
  return undefined
}
