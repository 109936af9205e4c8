import type { Client } from '@opensearch-project/opensearch'
import { HydratorError } from '../errors.js'
import { setPosition } from '../position.js'
import type { Position, SourceOptions } from '../types.js'
import { assertInteger, assertString } from '../util/options.js'
import { validateRetryPolicy, withRetry, type RetryPolicy } from '../retry.js'
import { defineSource, type SourceControl, type StatefulSource } from '../define-source.js'
import {
  checkShards,
  describeOpenSearchError,
  isPitMissing,
  isRetryableOpenSearchError,
  openSearchConfigError,
  openSearchReason,
  type ShardsBody,
} from './errors.js'
import { compareCursors, normalizeSort, validateCursor, type OpenSearchCursor, type OpenSearchSort } from './sort.js'

/** The part of an `@opensearch-project/opensearch` Client the source uses; the caller owns the client and closes it. */
export type OpenSearchSearchClient = Pick<Client, 'createPit' | 'deletePit' | 'search'>

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
        if (resumeAfter) control.stats.startedAt = { kind: 'opensearch', source: uri, key: undefined, sort: resumeAfter }
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
          const position: Position = { kind: 'opensearch', source: uri, key: hit._id, ...(hit.sort ? { sort: hit.sort } : {}) }
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
    resumeAfter ? { startedAt: { kind: 'opensearch', source: uri, key: undefined, sort: resumeAfter } } : {},
  ) as OpenSearchSource<T>

  Object.defineProperties(source, {
    cursor: { value: () => cursor, enumerable: false },
    pitsReopened: { get: () => pitsReopened, enumerable: false },
  })
  return source
}

class Stopped extends Error {}

interface SearchBody extends ShardsBody {
  pit_id?: string
  hits?: { hits?: Hit[] }
}

/** The slices this process reads: all `slices` of the index, or its share `slice` of a scaled-out read (max × slices in all). */
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
