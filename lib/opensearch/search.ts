import type { Client } from '@opensearch-project/opensearch'
import { HydratorError, errorMessage } from '../errors.js'
import { setPosition } from '../position.js'
import type { Position, SourceOptions } from '../types.js'
import { assertInteger, assertString } from '../util/options.js'
import { isNetworkError, validateRetryPolicy, withRetry, type RetryPolicy } from '../retry.js'
import { defineSource, type SourceControl, type StatefulSource } from '../define-source.js'

/** The part of an `@opensearch-project/opensearch` Client the source uses; the caller owns the client and closes it. */
export type OpenSearchSearchClient = Pick<Client, 'createPit' | 'deletePit' | 'search'>

/**
 * One sort key: `'time'`, `'time:desc'`, or OpenSearch's own form `{ time: 'desc' }` /
 * `{ time: { order: 'desc', missing: '_first' } }`.
 */
export type OpenSearchSort = string | Readonly<Record<string, 'asc' | 'desc' | Readonly<Record<string, unknown>>>>

/** OpenSearch sort values of a hit: what `search_after` takes to go on after it. */
export type OpenSearchCursor = readonly (string | number | boolean | null)[]

/** Options of {@link searchOpenSearch}. */
export interface SearchOpenSearchOptions extends SourceOptions {
  /** An `@opensearch-project/opensearch` Client; the caller owns it and closes it. */
  readonly client: OpenSearchSearchClient
  /** The index (or alias, comma list, wildcard pattern) to read. */
  readonly index: string
  /**
   * The order to read in: a time field and a unique tiebreaker, e.g. `['time', 'id']`. Without a
   * unique last key, documents with equal sort values can be skipped across pages (OpenSearch's
   * `search_after` goes strictly past the values it is given) and resuming is ambiguous.
   */
  readonly sort: readonly OpenSearchSort[]
  /** An OpenSearch query (`{ range: { time: { gte: '2024-01-01' } } }`). @default match_all */
  readonly query?: Readonly<Record<string, unknown>>
  /** Documents per search request, 1 to 10000. @default 1000 */
  readonly pageSize?: number
  /** How long OpenSearch keeps the point in time between two requests. @default '2m' */
  readonly keepAlive?: string
  /**
   * Sliced reads in parallel within this process, 1 to 1024. Events still come out in sort order: the
   * slices' pages are merged. Each slice holds at most two pages (the one handed out, the next). @default 1
   */
  readonly slices?: number
  /**
   * This process's share of a scaled-out read: slice `id` of `max` (every process uses the same `max`
   * and `slices`). Events come in sort order within the share.
   */
  readonly slice?: { readonly id: number; readonly max: number }
  /** Go on after these sort values: `source.cursor()` of an earlier run with the same sort. */
  readonly resumeAfter?: OpenSearchCursor
  /** Retries of a page on 429, 502/503/504, timeouts and dropped connections. @default 8 attempts, 100 ms to 20 s */
  readonly retry?: RetryPolicy
  /** The name positions and stats carry. @default `opensearch:<index>` */
  readonly uri?: string
}

/** An OpenSearch source: a {@link StatefulSource} that also tells where it stands. */
export interface OpenSearchSource<T = Record<string, unknown>> extends StatefulSource<T> {
  /**
   * The sort values of the last event handed out (or `resumeAfter` before the first): everything up
   * to and including it has been read. Pass it as `resumeAfter` to go on.
   */
  cursor(): OpenSearchCursor | undefined
  /** How many times an expired point in time was reopened. */
  readonly pitsReopened: number
}

interface SortKey {
  readonly field: string
  readonly desc: boolean
  readonly missingFirst: boolean
  /** The sort clause as sent. */
  readonly clause: Record<string, unknown>
}

interface Hit {
  readonly _id: string
  readonly _index?: string
  readonly _source?: unknown
  readonly sort?: OpenSearchCursor
}

const KEEP_ALIVE_RE = /^\d+(nanos|micros|ms|s|m|h|d)$/
const MAX_PAGE = 10_000
const MAX_SLICES = 1024
/** Reopens in a row for one page before giving up: a keep_alive too short to get one page through. */
const MAX_REOPENS = 3

/**
 * Reads an OpenSearch index in a stable order with a point in time (PIT) and `search_after`: the
 * index as it was when the PIT was opened, every matching document once, in `sort` order (also with
 * `slices`, whose pages are merged). Yields each hit's `_source` with the position
 * `{ source, key: _id, sort }`. A PIT that expires mid-run (a `keep_alive` too short, a node
 * restart) is reopened and reading goes on after the last sort values handed out, so nothing is
 * skipped or read twice; the new PIT sees the index as it is then. 429, 502/503/504, timeouts and
 * dropped connections are retried; a missing index throws ERR_TARGET_NOT_FOUND, a sort field the
 * mapping cannot sort on ERR_TARGET_SCHEMA, a query OpenSearch rejects ERR_INVALID_OPTION, all on
 * the first read. The PIT is deleted when reading ends, also after an early `break` or an error.
 *
 * @example
 * const source = searchOpenSearch({ client: new Client({ node: 'http://localhost:9200' }), index: 'events', sort: ['time', 'id'] })
 * for await (const event of source) console.log(event)
 * console.log(source.cursor()) // [1704067200000, 'e-42']: pass as `resumeAfter` to go on
 */
export function searchOpenSearch<T = Record<string, unknown>>(options: SearchOpenSearchOptions): OpenSearchSource<T> {
  if (!options || typeof options !== 'object') {
    throw new HydratorError('ERR_INVALID_OPTION', 'searchOpenSearch expects an options object with `client`, `index` and `sort`')
  }
  const { client } = options
  if (!client || typeof client.search !== 'function' || typeof client.createPit !== 'function') {
    throw new HydratorError(
      'ERR_INVALID_OPTION',
      `expected \`client\` to be an @opensearch-project/opensearch Client (with \`search\` and \`createPit\`), got \`${String(client)}\``,
    )
  }
  const index = assertString('index', options.index)
  const sort = normalizeSort(options.sort)
  if (options.query !== undefined && (!options.query || typeof options.query !== 'object' || Array.isArray(options.query))) {
    throw new HydratorError('ERR_INVALID_OPTION', `expected \`query\` to be an OpenSearch query object such as { match_all: {} }, got \`${String(options.query)}\``)
  }
  const pageSize = assertInteger('pageSize', options.pageSize ?? 1000, 1, MAX_PAGE)
  const keepAlive = options.keepAlive ?? '2m'
  if (typeof keepAlive !== 'string' || !KEEP_ALIVE_RE.test(keepAlive)) {
    throw new HydratorError('ERR_INVALID_OPTION', `expected \`keepAlive\` to be a time value such as \`2m\` or \`30s\`, got \`${String(keepAlive)}\``)
  }
  const slices = assertInteger('slices', options.slices ?? 1, 1, MAX_SLICES)
  const owned = ownedSlices(options.slice, slices)
  const resumeAfter = options.resumeAfter === undefined ? undefined : validateCursor(options.resumeAfter, sort)
  const retry = validateRetryPolicy(options.retry)
  const uri = options.uri ?? `opensearch:${index}`
  let cursor: OpenSearchCursor | undefined = resumeAfter
  let pitsReopened = 0

  const source = defineSource<T>(
    uri,
    options,
    async function* searchOpenSearchSource(control: SourceControl) {
      const { signal } = control
      let pitId: string | undefined
      let generation = 0
      let reopening: Promise<void> | undefined
      let closed = false

      const openPit = async (): Promise<string> => {
        try {
          const response = await withRetry(() => client.createPit({ index: index.split(','), keep_alive: keepAlive }, { maxRetries: 0 }), retry, {
            isRetryable: (e) => !closed && isRetryableOpenSearchError(e),
            reasonOf: openSearchReason,
            signal,
          })
          const id = (response.body as { pit_id?: unknown }).pit_id
          if (typeof id !== 'string' || id === '') throw new HydratorError('ERR_SOURCE_READ', `OpenSearch answered a point in time request on \`${index}\` without a pit_id`)
          return id
        } catch (error) {
          throw openSearchConfigError(error, `index \`${index}\``) ??
            (error instanceof HydratorError
              ? error
              : new HydratorError('ERR_CONNECTION', `cannot open a point in time on \`${index}\`: ${describeOpenSearchError(error)}`, { cause: error }))
        }
      }

      const deletePit = async (id: string) => {
        try {
          await client.deletePit({ body: { pit_id: [id] } }, { ignore: [404] })
        } catch {
          // An expired or unreachable PIT goes away with its keep_alive.
        }
      }

      // One reopen for every lane that found the PIT gone with the same generation.
      const reopen = async (seen: number) => {
        if (seen !== generation) return
        reopening ??= (async () => {
          try {
            const old = pitId
            const fresh = await openPit()
            if (closed) {
              // Reading ended while this was opening: nobody will use or delete it otherwise.
              await deletePit(fresh)
              throw new Stopped()
            }
            pitId = fresh
            generation++
            pitsReopened++
            // Gone on one shard may still hold the others: release what is left of it.
            if (old) await deletePit(old)
          } finally {
            reopening = undefined
          }
        })()
        await reopening
      }

      const fetchPage = async (slice: { id: number; max: number } | undefined, after: OpenSearchCursor | undefined): Promise<Hit[]> => {
        for (let reopened = 0; ; ) {
          const seen = generation
          const id = pitId!
          try {
            const body = await withRetry(
              async () => {
                const response = await client.search({
                  body: {
                    pit: { id, keep_alive: keepAlive },
                    size: pageSize,
                    sort: sort.map((s) => s.clause),
                    track_total_hits: false,
                    ...(options.query ? { query: options.query } : {}),
                    ...(slice ? { slice } : {}),
                    ...(after ? { search_after: [...after] } : {}),
                  } as never,
                }, { maxRetries: 0 })
                const out = response.body as unknown as SearchBody
                checkShards(out, index)
                return out
              },
              retry,
              { isRetryable: (e) => !closed && !isPitMissing(e) && isRetryableOpenSearchError(e), reasonOf: openSearchReason, signal },
            )
            // The id can change between requests; always use the latest one.
            if (typeof body.pit_id === 'string' && body.pit_id && seen === generation) pitId = body.pit_id
            return body.hits?.hits ?? []
          } catch (error) {
            if (isPitMissing(error) && !closed && reopened < MAX_REOPENS) {
              reopened++
              await reopen(seen)
              continue
            }
            if (closed) throw new Stopped()
            throw openSearchConfigError(error, `index \`${index}\``) ??
              (error instanceof HydratorError
                ? error
                : new HydratorError(
                    'ERR_SOURCE_READ',
                    `search of \`${index}\`${slice ? ` slice ${slice.id}/${slice.max}` : ''} failed${isPitMissing(error) ? ` (the point in time expired ${reopened + 1} times in a row; raise keepAlive)` : ''}: ${describeOpenSearchError(error)}`,
                    { cause: error },
                  ))
          }
        }
      }

      /** One slice (or the whole read): its current page and the next one in flight. */
      class Lane {
        hits: Hit[] = []
        pos = 0
        next: Promise<Hit[]> | undefined
        last = false
        constructor(readonly slice: { id: number; max: number } | undefined) {}

        request(after: OpenSearchCursor | undefined) {
          const p = fetchPage(this.slice, after)
          p.catch(() => {}) // awaited later; never an unhandled rejection
          this.next = p
        }

        /** Makes the next hit available; false when the lane is done. */
        async fill(): Promise<boolean> {
          while (this.pos >= this.hits.length) {
            if (this.last || !this.next) return false
            const hits = await this.next
            this.next = undefined
            this.hits = hits
            this.pos = 0
            if (hits.length < pageSize) this.last = true
            else {
              const lastSort = hits[hits.length - 1]!.sort
              if (!Array.isArray(lastSort) || lastSort.length !== sort.length) {
                throw new HydratorError('ERR_SOURCE_READ', `a hit of \`${index}\` came without its ${sort.length} sort values; cannot page on`)
              }
              this.request(lastSort)
            }
          }
          return true
        }

        head(): Hit {
          return this.hits[this.pos]!
        }
      }

      try {
        if (resumeAfter) control.stats.startedAt = { source: uri, sort: resumeAfter }
        pitId = await openPit()
        const lanes = owned.map((s) => new Lane(s))
        for (const lane of lanes) lane.request(resumeAfter)
        let active = lanes

        while (!signal?.aborted) {
          let lane: Lane | undefined
          // Waits only at page ends: a lane with hits left has its head ready.
          if (active.some((l) => l.pos >= l.hits.length)) {
            const filled = await Promise.all(active.map((l) => l.fill()))
            active = active.filter((_, i) => filled[i])
          }
          if (active.length === 1) lane = active[0]
          else for (const l of active) if (!lane || compareCursors(l.head().sort!, lane.head().sort!, sort) < 0) lane = l
          if (!lane) break
          const hit = lane.head()
          lane.pos++
          const position: Position = { source: uri, key: hit._id, ...(hit.sort ? { sort: hit.sort } : {}) }
          cursor = hit.sort ?? cursor
          const event = hit._source
          if (event === null || typeof event !== 'object' || Array.isArray(event)) {
            control.fail({
              position,
              code: 'ERR_NOT_AN_OBJECT',
              message: `document ${JSON.stringify(hit._id)} of \`${hit._index ?? index}\` has no _source object (is _source disabled in the mapping?)`,
            })
            continue
          }
          control.stats.read++
          yield setPosition(event as T, position)
        }
      } finally {
        closed = true
        if (pitId) await deletePit(pitId)
      }
    },
    resumeAfter ? { startedAt: { source: uri, sort: resumeAfter } } : {},
  ) as OpenSearchSource<T>

  Object.defineProperties(source, {
    cursor: { value: () => cursor, enumerable: false },
    pitsReopened: { get: () => pitsReopened, enumerable: false },
  })
  return source
}

class Stopped extends Error {}

interface SearchBody {
  pit_id?: string
  timed_out?: boolean
  _shards?: { total?: number; failed?: number; failures?: { reason?: { type?: string; reason?: string } }[] }
  hits?: { hits?: Hit[] }
}

/** A page with failed shards is partial: a PIT gone on some shard is reopened, anything else fails the read. */
function checkShards(body: SearchBody, index: string): void {
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

function normalizeSort(raw: unknown): SortKey[] {
  if (!Array.isArray(raw) || raw.length === 0) {
    throw new HydratorError(
      'ERR_INVALID_OPTION',
      `expected \`sort\` to be a non-empty array of fields, a time field and a unique tiebreaker such as ['time', 'id'], got \`${JSON.stringify(raw) ?? String(raw)}\``,
    )
  }
  return raw.map((entry): SortKey => {
    if (typeof entry === 'string') {
      const m = /^([^:]+?)(?::(asc|desc))?$/.exec(entry.trim())
      if (!m || !m[1]) throw new HydratorError('ERR_INVALID_OPTION', `expected a sort field such as \`time\` or \`time:desc\`, got \`${entry}\``)
      const desc = m[2] === 'desc'
      return { field: m[1], desc, missingFirst: false, clause: { [m[1]]: { order: desc ? 'desc' : 'asc' } } }
    }
    if (entry && typeof entry === 'object' && !Array.isArray(entry) && Object.keys(entry).length === 1) {
      const [field, spec] = Object.entries(entry as Record<string, unknown>)[0]!
      if (spec === 'asc' || spec === 'desc') return { field, desc: spec === 'desc', missingFirst: false, clause: { [field]: { order: spec } } }
      if (spec && typeof spec === 'object' && !Array.isArray(spec)) {
        const s = spec as Record<string, unknown>
        if (s.order !== undefined && s.order !== 'asc' && s.order !== 'desc') {
          throw new HydratorError('ERR_INVALID_OPTION', `expected the sort order of \`${field}\` to be asc or desc, got \`${String(s.order)}\``)
        }
        return { field, desc: s.order === 'desc', missingFirst: s.missing === '_first', clause: { [field]: { ...s } } }
      }
    }
    throw new HydratorError('ERR_INVALID_OPTION', `expected a sort key such as \`'time'\`, \`'time:desc'\` or \`{ time: 'desc' }\`, got \`${JSON.stringify(entry)}\``)
  })
}

function ownedSlices(slice: { id: number; max: number } | undefined, slices: number): ({ id: number; max: number } | undefined)[] {
  if (slice === undefined) {
    return slices === 1 ? [undefined] : Array.from({ length: slices }, (_, id) => ({ id, max: slices }))
  }
  if (!slice || typeof slice !== 'object') {
    throw new HydratorError('ERR_INVALID_OPTION', `expected \`slice\` to be { id, max }, got \`${String(slice)}\``)
  }
  const max = assertInteger('slice.max', slice.max, 2, MAX_SLICES)
  const id = assertInteger('slice.id', slice.id, 0, max - 1)
  const total = max * slices
  if (total > MAX_SLICES) {
    throw new HydratorError('ERR_INVALID_OPTION', `\`slice.max\` × \`slices\` must be at most ${MAX_SLICES}, got \`${total}\``)
  }
  return Array.from({ length: slices }, (_, j) => ({ id: id * slices + j, max: total }))
}

function validateCursor(cursor: unknown, sort: readonly SortKey[]): OpenSearchCursor {
  if (!Array.isArray(cursor) || cursor.some((v) => v !== null && !['string', 'number', 'boolean'].includes(typeof v))) {
    throw new HydratorError('ERR_INVALID_OPTION', `expected \`resumeAfter\` to be an array of sort values such as [1704067200000, 'e-42'], got \`${JSON.stringify(cursor) ?? String(cursor)}\``)
  }
  if (cursor.length !== sort.length) {
    throw new HydratorError(
      'ERR_CHECKPOINT_MISMATCH',
      `\`resumeAfter\` has ${cursor.length} sort value(s) but the sort has ${sort.length} (${sort.map((s) => s.field).join(', ')}): resume with the sort of the run that made it`,
    )
  }
  return [...cursor] as OpenSearchCursor
}

/** Compares two hits' sort values the way OpenSearch ordered them (code point order for strings). */
function compareCursors(a: OpenSearchCursor, b: OpenSearchCursor, sort: readonly SortKey[]): number {
  for (let i = 0; i < sort.length; i++) {
    const x = a[i] ?? null
    const y = b[i] ?? null
    if (x === y) continue
    if (x === null || y === null) return (x === null ? 1 : -1) * (sort[i]!.missingFirst ? -1 : 1)
    let c: number
    if (typeof x === 'number' && typeof y === 'number') c = x - y
    else c = compareCodePoints(String(x), String(y))
    if (c !== 0) return sort[i]!.desc ? -c : c
  }
  return 0
}

function compareCodePoints(x: string, y: string): number {
  const n = Math.min(x.length, y.length)
  for (let i = 0; i < n; i++) {
    const cx = x.codePointAt(i)!
    const cy = y.codePointAt(i)!
    if (cx !== cy) return cx < cy ? -1 : 1
    if (cx > 0xffff) i++
  }
  return x.length - y.length
}

// ---------------------------------------------------------------------------------------------
// Shared with the OpenSearch sink.

interface ResponseErrorLike {
  name?: string
  statusCode?: number
  meta?: { statusCode?: number; body?: unknown }
  body?: unknown
  code?: string
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
