// A global order kept in an index: pages 0, 1, 2, ... of a GSI whose partition key is a page number
// and whose sort key orders the items of a page (the changeset store: `page` + `page_item`).
import { HydratorError } from '../errors.js'
import { positionOf, setPosition, type DynamoPosition } from '../position.js'
import { defineSource, type StatefulSource } from '../define-source.js'
import { queryDynamo, type QueryDynamoOptions } from './query.js'

/** Which pages to read: from `from` to `to` (inclusive), or on until the first empty page. */
export interface PageRange {
  readonly from: number
  /** The last page to read, empty ones included; without it, reading stops at the first empty page. */
  readonly to?: number
}

/** Options of {@link queryPages}: a Query's, without the key condition, plus the pages. */
export interface QueryPagesOptions extends Omit<QueryDynamoOptions, 'keyCondition' | 'resume' | 'startKey'> {
  /** The index (or table) whose partition key is the page number. */
  readonly indexName?: string
  /** The page attribute. @default the partition key of the index (DescribeTable) */
  readonly pageKey?: string
  readonly pages: PageRange
}

/** Parses `0..`, `3..10`, `5`: a page range of the `pages=` URI parameter. */
export function parsePageRange(text: string): PageRange {
  const m = /^\s*(\d+)\s*(?:(\.\.)\s*(\d+)?)?\s*$/.exec(text)
  if (!m) throw new HydratorError('ERR_INVALID_URI', `expected \`pages\` to be \`<first>..\`, \`<first>..<last>\` or one page number, e.g. \`pages=0..\`, got \`pages=${text}\``)
  const from = Number(m[1])
  const to = m[2] ? (m[3] !== undefined ? Number(m[3]) : undefined) : from
  if (to !== undefined && to < from) throw new HydratorError('ERR_INVALID_URI', `\`pages=${text}\`: the last page is before the first`)
  return { from, ...(to !== undefined ? { to } : {}) }
}

/**
 * Reads a table in the global order an index keeps: Query page `from` of the index, then the next
 * page, and so on until the first empty page (or through page `to`), each page in sort-key order.
 * Each event's position is the Query's (`cursor`) plus its `page`, so a checkpoint resumes at the
 * page and the item. With `unwrap`, each item (a changeset) is turned into its events.
 *
 * @example
 * for await (const event of queryPages({ client, tableName: 'changesets', indexName: 'page-index', pages: { from: 0 }, unwrap: { field: 'events' } }))
 *   console.log(event)
 */
export function queryPages<T = Record<string, unknown>>(options: QueryPagesOptions): StatefulSource<T> {
  const { pages, pageKey, resumeFrom, ...query } = options
  if (!pages || !Number.isInteger(pages.from) || pages.from < 0 || (pages.to !== undefined && (!Number.isInteger(pages.to) || pages.to < pages.from))) {
    throw new HydratorError('ERR_INVALID_OPTION', `expected \`pages\` to be { from, to? } with whole page numbers, from <= to, got \`${JSON.stringify(pages)}\``)
  }
  const resume = resumeFrom as DynamoPosition | undefined
  if (resume !== undefined && (resume.kind !== 'dynamo' || !Number.isInteger(resume.page))) {
    throw new HydratorError('ERR_CHECKPOINT_MISMATCH', `cannot resume a paged read from \`${JSON.stringify(resume)}\`: it has no page`)
  }
  const uri = options.uri ?? `dynamo:${options.tableName}`
  const probe = (page: number) => queryDynamo<T>({ ...query, keyCondition: { value: page, ...(pageKey ? { name: pageKey } : {}) } })
  probe(pages.from) // the options, checked now

  return defineSource<T>(uri, options, async function* queryPagesSource({ stats, fail, signal }) {
    let page = resume ? resume.page! : pages.from
    // A resume inside a page goes on after its item; a page read to its end goes on with the next.
    let startAfter: DynamoPosition | undefined = resume
    if (resume && (resume.cursor as Record<number, unknown> | undefined)?.[0] === null) {
      page++
      startAfter = undefined
    }
    if (resume) stats.startedAt = resume
    for (; pages.to === undefined || page <= pages.to; page++) {
      if (signal?.aborted) return
      const source = queryDynamo<T>({
        ...query,
        maxFailures: Infinity,
        keyCondition: { value: page, ...(pageKey ? { name: pageKey } : {}) },
        ...(startAfter ? { resumeFrom: startAfter } : {}),
      })
      startAfter = undefined
      source.addFailureListener((failure) => fail({ ...failure, message: `page ${page}: ${failure.message}` }))
      let any = false
      for await (const event of source) {
        any = true
        stats.read++
        const position = positionOf(event) as DynamoPosition | undefined
        yield setPosition(event, position ? { ...position, page } : undefined)
        if (signal?.aborted) return
      }
      if (!any && source.stats.failed === 0 && pages.to === undefined) return
    }
  })
}
