import type { AttributeValue, TableDescription } from '@aws-sdk/client-dynamodb'
import { HydratorError, errorMessage } from '../errors.js'
import { setPosition } from '../position.js'
import type { DynamoPosition, Position } from '../position.js'
import { assertInteger } from '../util/options.js'
import { awsConfigError, isRetryableAwsError } from '../util/aws.js'
import { fromAttributeMap, toAttributeMap } from './codec.js'
import { withRetry } from '../retry.js'
import { defineSource, type SourceControl, type StatefulSource } from '../define-source.js'
import { describeTable, indexOf, keyNames, loadSdk, sendOf, type DynamoKey } from './client.js'
import { cursorAt, cursorOfPosition, keyOfItem, sameKey, validateCursor, type DynamoCursor } from './cursor.js'
import { compileUnwrap } from './unwrap.js'
import { sharedInput, validateReadOptions, type DynamoReadOptions, type ReadCommon } from './read-options.js'

/** Either no segment choice, or both `segment` and `totalSegments` (one process's share of a parallel scan). */
export type SegmentChoice =
  | { readonly segment?: undefined; readonly totalSegments?: undefined }
  | {
      /** This process's segment, 0-based, below `totalSegments`. */
      readonly segment: number
      /** How many processes share the scan (1 to 1,000,000, divided by `parallelism`). */
      readonly totalSegments: number
    }

/** Options of {@link scanDynamo}. */
export type ScanDynamoOptions = DynamoReadOptions &
  SegmentChoice & {
    /**
     * Segments this process reads at once. Combined with `segment`/`totalSegments`, the scan has
     * `totalSegments * parallelism` segments and this process reads `segment * parallelism` up to
     * `(segment + 1) * parallelism - 1`: every process must use the same `parallelism`. @default 1
     */
    readonly parallelism?: number
    /** Go on from a {@link DynamoCursor} (`source.cursor()` of an earlier run with the same segment settings). */
    readonly resume?: DynamoCursor
    /** Same as `resume`. */
    readonly startKey?: DynamoCursor
  }

/** A DynamoDB source: a {@link StatefulSource} that also tells where it stands. */
export interface DynamoSource<T = Record<string, unknown>> extends StatefulSource<T> {
  /**
   * Per segment, the LastEvaluatedKey of the last page whose events have all been handed out
   * (`null`: segment done). Resuming from it re-reads at most the page that was being handed out.
   */
  cursor(): DynamoCursor
}

const MAX_TOTAL_SEGMENTS = 1_000_000

/**
 * Reads a DynamoDB table (or index) with paginated Scan requests, as plain JS objects. Each event
 * gets a position `{ source, key, part? }` with the item's primary key. Order: each item collection
 * (one partition key) comes in sort-key order, also with `parallelism` > 1, since a collection lives
 * in one segment; collections come in no meaningful order. With `parallelism` n, n segments are read
 * at once with at most one page buffered per segment; pages interleave, the items of one page stay
 * together and in order. An item `unwrap` cannot read is a source failure (reading goes on);
 * throttling and dropped connections are retried; a missing table throws ERR_TARGET_NOT_FOUND on the
 * first read.
 *
 * @example
 * const source = scanDynamo({ client: DynamoDBDocumentClient.from(new DynamoDBClient({})), tableName: 'events', parallelism: 4 })
 * for await (const event of source) console.log(event)
 * console.log(source.cursor()) // { 0: null, 1: null, 2: null, 3: null }
 */
export function scanDynamo<T = Record<string, unknown>>(options: ScanDynamoOptions): DynamoSource<T> {
  const common = validateReadOptions(options, 'scanDynamo')
  const parallelism = assertInteger('parallelism', options.parallelism ?? 1, 1, 1000)
  const hasSegment = options.segment !== undefined
  const hasTotal = options.totalSegments !== undefined
  if (hasSegment !== hasTotal) {
    throw new HydratorError(
      'ERR_INVALID_OPTION',
      `\`segment\` and \`totalSegments\` go together, got segment \`${String(options.segment)}\` and totalSegments \`${String(options.totalSegments)}\``,
    )
  }
  let owned: number[]
  let totalSegments: number
  if (hasSegment) {
    const total = assertInteger('totalSegments', options.totalSegments, 1, MAX_TOTAL_SEGMENTS)
    const segment = assertInteger('segment', options.segment, 0, total - 1)
    totalSegments = total * parallelism
    if (totalSegments > MAX_TOTAL_SEGMENTS) {
      throw new HydratorError('ERR_INVALID_OPTION', `\`totalSegments\` × \`parallelism\` must be at most ${MAX_TOTAL_SEGMENTS}, got \`${totalSegments}\``)
    }
    owned = Array.from({ length: parallelism }, (_, i) => segment * parallelism + i)
  } else {
    totalSegments = parallelism
    owned = Array.from({ length: parallelism }, (_, i) => i)
  }
  if ([options.resume, options.startKey, options.resumeFrom].filter((o) => o !== undefined).length > 1) {
    throw new HydratorError('ERR_INVALID_OPTION', 'give one of `resume`, `startKey` and `resumeFrom`, not several')
  }
  const resume = validateCursor(options.resume ?? options.startKey ?? cursorOfPosition(options.resumeFrom), owned)

  return readDynamo<T>(common, owned, resume, (segment) => ({
    command: 'Scan',
    input: {
      ...(totalSegments > 1 ? { Segment: segment, TotalSegments: totalSegments } : {}),
    },
  }))
}

// ---------------------------------------------------------------------------------------------
// Shared by scanDynamo and queryDynamo.

/** @internal What one page request of a segment sends, besides the shared parameters. */
export interface PageRequest {
  readonly command: 'Scan' | 'Query'
  readonly input: Record<string, unknown>
}

/** @internal What the source learned about the table before the first page. */
export interface TableInfo {
  readonly keyAttributes: readonly string[]
  readonly description?: TableDescription
}

interface Page {
  readonly segment: number
  readonly items: Record<string, unknown>[]
  readonly lastKey: DynamoKey | null
  /** Lets the segment fetch its next page. */
  readonly taken: () => void
}

/**
 * @internal The reading engine: pages of each segment are fetched one after the other, up to one
 * page buffered per segment; the consumer takes whole pages in the order they arrive.
 */
export function readDynamo<T>(
  common: ReadCommon,
  segments: readonly number[],
  resume: ReadonlyMap<number, DynamoKey | null>,
  request: (segment: number, table: TableInfo) => PageRequest,
  prepare?: (table: TableInfo) => void,
  needsDescribe = false,
): DynamoSource<T> {
  const { options, uri } = common
  const cursor = new Map<number, DynamoKey | null>(resume)
  // Resuming in the middle of an unwrapped item: its cursor points before the item, which is read
  // again; its events up to and including `part` were handled already.
  const from = options.resumeFrom
  let skip = from?.kind === 'dynamo' && from.part !== undefined && from.key && typeof from.key === 'object' ? { key: from.key as DynamoKey, through: from.part } : undefined
  const startedAt: Position | undefined = from ?? (resume.size > 0 ? { kind: 'dynamo', source: uri, key: undefined, cursor: Object.fromEntries(resume) } : undefined)

  const source = defineSource<T>(uri, options, async function* dynamoSource(control: SourceControl) {
    const stopper = new AbortController()
    const outer = control.signal
    let wake: (() => void) | undefined
    const notify = () => {
      const w = wake
      wake = undefined
      w?.()
    }
    const onAbort = () => {
      stopper.abort(outer?.reason)
      notify()
    }
    outer?.addEventListener('abort', onAbort, { once: true })
    if (outer?.aborted) onAbort()
    const signal = stopper.signal
    // Pages that arrived, in arrival order; each segment has at most one here.
    const ready: Page[] = []
    try {
      const sdk = await loadSdk()
      let table: TableInfo
      // An index read describes the table anyway: its cursors need the index key attributes.
      if (options.keyAttributes && !needsDescribe && !options.indexName) {
        table = { keyAttributes: options.keyAttributes }
      } else {
        const description = await describeTable(options.client, sdk, options.tableName, options.indexName, signal, common.retry)
        table = { keyAttributes: options.keyAttributes ?? keyNames(description.KeySchema), description }
      }
      prepare?.(table)
      // An ExclusiveStartKey of an index read needs the index's key attributes besides the table's.
      const index = options.indexName && table.description ? indexOf(table.description, options.indexName) : undefined
      const startKeyAttributes = index ? [...new Set([...table.keyAttributes, ...keyNames(index.KeySchema)])] : table.keyAttributes
      const shared = sharedInput(options, common.pageSize, startKeyAttributes)
      const send = sendOf(options.client)

      const fetchPage = async (segment: number, startKey: DynamoKey | undefined) => {
        const { command, input } = request(segment, table)
        const names = { ...(shared.ExpressionAttributeNames as object), ...(input.ExpressionAttributeNames as object) }
        const values = { ...(shared.ExpressionAttributeValues as object), ...(input.ExpressionAttributeValues as object) }
        // Marshalled and unmarshalled here, not by lib-dynamodb, which loses an own `__proto__` key.
        const commandOf = (params: Record<string, unknown>) =>
          command === 'Scan' ? new sdk.client.ScanCommand(params as never) : new sdk.client.QueryCommand(params as never)
        try {
          const params = {
            ...shared,
            ...input,
            ...(Object.keys(names).length ? { ExpressionAttributeNames: names } : {}),
            ...(Object.keys(values).length ? { ExpressionAttributeValues: toAttributeMap(values) } : {}),
            ...(startKey ? { ExclusiveStartKey: toAttributeMap(startKey) } : {}),
          }
          const out = await withRetry(() => send(commandOf(params), { abortSignal: signal }), common.retry, {
            isRetryable: (e) => !signal.aborted && isRetryableAwsError(e),
            signal,
          })
          const lastKey = out.LastEvaluatedKey as Record<string, AttributeValue> | undefined
          return {
            items: ((out.Items as Record<string, AttributeValue>[] | undefined) ?? []).map(fromAttributeMap),
            lastKey: lastKey ? (fromAttributeMap(lastKey) as DynamoKey) : null,
          }
        } catch (error) {
          if (signal.aborted) throw new StopSignal()
          const config = awsConfigError(error, `DynamoDB table \`${options.tableName}\``)
          if (config) throw config
          throw new HydratorError(
            'ERR_SOURCE_READ',
            `${command} of \`${options.tableName}\`${segments.length > 1 || segment > 0 ? ` segment ${segment}` : ''} failed: ${errorMessage(error)}`,
            { cause: error },
          )
        }
      }

      let failure: unknown
      let running = 0

      const work = async (segment: number, startKey: DynamoKey | undefined) => {
        let key = startKey
        try {
          for (;;) {
            const page = await fetchPage(segment, key)
            if (signal.aborted) return
            await new Promise<void>((taken) => {
              ready.push({ segment, ...page, taken })
              notify()
            })
            if (!page.lastKey || signal.aborted) return
            key = page.lastKey
          }
        } catch (error) {
          if (!(error instanceof StopSignal)) failure ??= error
        } finally {
          running--
          notify()
        }
      }

      for (const segment of segments) {
        const from = cursor.get(segment)
        if (from === null) continue // done in an earlier run
        running++
        void work(segment, from)
      }

      const unwrap = compileUnwrap(options.unwrap)
      while (!signal.aborted) {
        if (failure) throw failure
        const page = ready.shift()
        if (!page) {
          if (running === 0) break
          await new Promise<void>((resolve) => {
            wake = resolve
          })
          continue
        }
        page.taken()
        // Each event's cursor: every segment's ExclusiveStartKey once this event is handled.
        const base = Object.fromEntries(cursor) as Record<number, DynamoKey | null | undefined>
        const segment = page.segment
        let before = base[segment] // where this segment stands before the item
        for (const item of page.items) {
          const key = keyOfItem(item, table.keyAttributes)
          const after = startKeyAttributes === table.keyAttributes ? key : keyOfItem(item, startKeyAttributes)
          if (!unwrap) {
            control.stats.read++
            yield setPosition(item as T, { kind: 'dynamo', source: uri, key, cursor: cursorAt(base, segment, after) })
          } else {
            const parts = unwrap(item)
            let skipThrough = -1
            if (skip && sameKey(skip.key, key)) {
              skipThrough = skip.through
              skip = undefined
            }
            for (let i = 0; i < parts.length; i++) {
              const part = parts[i]!
              if (part.index !== undefined && part.index <= skipThrough) continue
              const position: DynamoPosition = part.index === undefined ? { kind: 'dynamo', source: uri, key } : { kind: 'dynamo', source: uri, key, part: part.index }
              if ('failure' in part) {
                control.fail({ position, code: part.failure.code, message: `${formatKey(key)}: ${part.failure.message}` })
                continue
              }
              control.stats.read++
              // Only the item's last event moves the segment past the item.
              yield setPosition(part.event as T, { ...position, cursor: cursorAt(base, segment, i === parts.length - 1 ? after : before) })
            }
          }
          before = after
          if (signal.aborted) break
        }
        if (signal.aborted) break
        cursor.set(page.segment, page.lastKey)
      }
      if (failure) throw failure
    } finally {
      outer?.removeEventListener('abort', onAbort)
      // Stops the segments still fetching and releases those waiting for their page to be taken.
      stopper.abort()
      for (const page of ready.splice(0)) page.taken()
    }
  }, startedAt ? { startedAt } : {}) as DynamoSource<T>

  Object.defineProperty(source, 'cursor', {
    value: (): DynamoCursor => Object.fromEntries(cursor),
    enumerable: false,
  })
  return source
}

class StopSignal extends Error {}

function formatKey(key: DynamoKey): string {
  return `item ${JSON.stringify(key)}`
}
