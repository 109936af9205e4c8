import { HydratorError, errorMessage } from '../errors.js'
import type { CompiledMapping, RowWrite } from '../mapping.js'
import type { WriteOutcome } from '../define-sink.js'

// The `_bulk` protocol of the sink: events become action lines, item results become outcomes.
// Nothing here sends a request.

/** OpenSearch's limit on the length of a document `_id`, in UTF-8 bytes. */
export const MAX_ID_BYTES = 512

/** One document the sink sends bigger than this fails alone (OpenSearch's default `http.max_content_length` is 100 MB). */
export const MAX_DOCUMENT_BYTES = 100 * 1024 * 1024

/** One event as a bulk action. */
export interface OpenSearchWrite {
  readonly action: 'index' | 'delete'
  readonly id: string
  readonly version?: number
  /** The action line and, for `index`, the document line, each ending in a newline. */
  readonly lines: string
  /** The UTF-8 size of `lines`. */
  readonly bytes: number
  readonly row: RowWrite
  /** For `index`: the document sent (the mapped row or the event), for a dry run's plan. */
  readonly document?: unknown
}

/** The result of one item of a `_bulk` answer. */
export interface BulkItemResult {
  _id?: string
  status?: number
  result?: string
  error?: { type?: string; reason?: string; caused_by?: { type?: string; reason?: string } }
}

/** How events become documents: the mapping, and which of its columns is the `_id`. */
export interface SinkMapping {
  readonly compiled: CompiledMapping
  /** The column holding the `_id`. */
  readonly idColumn: string
  /** Send the mapped row rather than the whole event. */
  readonly rowIsDocument: boolean
}

/**
 * An event as a bulk action: an `index` of its document (the mapped row or the whole event), or a
 * `delete`, with its `_id` and, with a version, `version_type=external`. Throws ERR_MAPPING for an
 * `_id` or version OpenSearch would refuse, ERR_ITEM_TOO_LARGE for a document over
 * {@link MAX_DOCUMENT_BYTES}.
 */
export function bulkAction(mapping: SinkMapping, event: unknown): OpenSearchWrite {
  const row = mapping.compiled.toRow(event)
  const id = String(row.key[0])
  if (Buffer.byteLength(id) > MAX_ID_BYTES) {
    throw new HydratorError('ERR_MAPPING', `the _id (${mapping.compiled.mapping.columns[mapping.idColumn]}) is ${Buffer.byteLength(id)} bytes; OpenSearch allows at most ${MAX_ID_BYTES}`)
  }
  const version = row.version
  if (version !== undefined && (!Number.isSafeInteger(version) || version < 0)) {
    throw new HydratorError(
      'ERR_MAPPING',
      `version ${version} cannot be an OpenSearch external version: expected a whole number from 0 to ${Number.MAX_SAFE_INTEGER}`,
    )
  }
  const meta: Record<string, unknown> = { _id: id }
  if (version !== undefined) {
    meta.version = version
    meta.version_type = 'external'
  }
  let lines: string
  let document: unknown
  if (row.op === 'delete') {
    lines = `${JSON.stringify({ delete: meta })}\n`
  } else {
    document = mapping.rowIsDocument ? row.row : event
    let json: string | undefined
    try {
      json = JSON.stringify(document)
    } catch (error) {
      throw new HydratorError('ERR_MAPPING', `the document for _id ${JSON.stringify(id)} cannot be written as JSON: ${errorMessage(error)}`)
    }
    if (json === undefined || !json.startsWith('{')) {
      throw new HydratorError('ERR_MAPPING', `the document for _id ${JSON.stringify(id)} is not a JSON object`)
    }
    lines = `${JSON.stringify({ index: meta })}\n${json}\n`
  }
  const bytes = Buffer.byteLength(lines)
  if (bytes > MAX_DOCUMENT_BYTES) {
    throw new HydratorError('ERR_ITEM_TOO_LARGE', `the document for _id ${JSON.stringify(id)} is ${bytes} bytes, over ${MAX_DOCUMENT_BYTES}`)
  }
  return { action: row.op === 'delete' ? 'delete' : 'index', id, ...(version !== undefined ? { version } : {}), lines, bytes, row, ...(row.op === 'delete' ? {} : { document }) }
}

/** The body of a `_bulk` request: the lines of the writes at `indices` of `batch`, in order. */
export function bulkBody(batch: readonly OpenSearchWrite[], indices: readonly number[]): string {
  return indices.map((i) => batch[i]!.lines).join('')
}

/**
 * The item results of a `_bulk` answer, one per write at `indices` of `batch`, in order. Throws
 * ERR_INTERNAL when the answer does not hold one per action.
 */
export function bulkItems(body: unknown, batch: readonly OpenSearchWrite[], indices: readonly number[]): BulkItemResult[] {
  const items = (body as { items?: Record<string, BulkItemResult>[] }).items
  if (!Array.isArray(items) || items.length !== indices.length) {
    throw new HydratorError(
      'ERR_INTERNAL',
      `OpenSearch answered a bulk of ${indices.length} action(s) with ${Array.isArray(items) ? items.length : 'no'} item result(s)`,
    )
  }
  return indices.map((i, j) => items[j]![batch[i]!.action] ?? Object.values(items[j]!)[0] ?? {})
}

/** A rejected item's failure message: `orders "o-1": mapper_parsing_exception: ... (caused by)`. */
export function itemMessage(index: string, w: OpenSearchWrite, item: BulkItemResult): string {
  const e = item.error
  const caused = e?.caused_by?.reason ? ` (${e.caused_by.type ? `${e.caused_by.type}: ` : ''}${e.caused_by.reason})` : ''
  return `${index} ${JSON.stringify(w.id)}: ${e?.type ?? `HTTP ${item.status}`}: ${e?.reason ?? 'rejected'}${caused}`
}

/**
 * The outcome of one item: written, skipped as `stale` (409 on an external version) or as
 * `deleteOfMissing` (a delete answered 404 not_found), `'retry'` for a passing rejection (429,
 * 502/503/504), failed otherwise. `maybeApplied` says an earlier attempt of this write lost its
 * answer: then a conflict with its own version, or a delete finding nothing, was its own doing.
 */
export function itemOutcome(index: string, w: OpenSearchWrite, item: BulkItemResult, attempts: number, maybeApplied: boolean): WriteOutcome | 'retry' {
  const status = item.status ?? 0
  if (status >= 200 && status < 300) {
    return { status: 'written', key: w.id, attempts, ...(w.action === 'delete' ? { deleted: true } : {}) }
  }
  // A delete of a document that is not there changed nothing, unless an earlier attempt deleted it.
  if (status === 404 && w.action === 'delete' && item.result === 'not_found' && !item.error) {
    if (maybeApplied) return { status: 'written', key: w.id, attempts, deleted: true }
    return { status: 'skipped', reason: 'deleteOfMissing', key: w.id, attempts, message: 'no document with this _id to delete' }
  }
  if (status === 409 && item.error?.type === 'version_conflict_engine_exception' && w.version !== undefined) {
    // After a lost answer (a timeout, a dropped connection), the conflict can be with this very
    // write, applied the first time: then it was written.
    const current = /current version \[(\d+)\]/.exec(item.error.reason ?? '')
    if (maybeApplied && current && Number(current[1]) === w.version) {
      return { status: 'written', key: w.id, attempts, ...(w.action === 'delete' ? { deleted: true } : {}) }
    }
    return { status: 'skipped', reason: 'stale', key: w.id, attempts, message: `stale: ${item.error.reason ?? 'version conflict'}` }
  }
  if (status === 429 || status === 502 || status === 503 || status === 504) return 'retry'
  return { status: 'failed', code: 'ERR_WRITE_REJECTED', message: itemMessage(index, w, item), key: w.id, attempts }
}
