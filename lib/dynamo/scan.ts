import type { AttributeValue, DynamoDBClient, TableDescription } from '@aws-sdk/client-dynamodb'
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb'
import { HydratorError, errorMessage } from '../errors.js'
import { setPosition } from '../position.js'
import type { Position, SourceOptions } from '../types.js'
import { assertInteger, assertString } from '../util/options.js'
import { awsConfigError, isRetryableAwsError } from '../util/aws.js'
import { fromAttributeMap, setOwn, toAttributeMap, toAttributeValue } from './codec.js'
import { assertDynamoName } from './names.js'
import { validateRetryPolicy, withRetry, type RetryPolicy } from '../retry.js'
import { defineSource, type SourceControl, type StatefulSource } from '../define-source.js'

/** A DynamoDB client: a `DynamoDBDocumentClient` or a plain `DynamoDBClient` (items come out as plain JS values either way). */
export type DynamoClient = Pick<DynamoDBDocumentClient, 'send'> | Pick<DynamoDBClient, 'send'>

/** The primary key of an item (or an ExclusiveStartKey) as plain JS values: `{ pk: 'a', sk: 3 }`. */
export type DynamoKey = Readonly<Record<string, unknown>>

/**
 * Where reading stands, per segment: a key to go on after (the LastEvaluatedKey of the last page
 * fully handed out), `null` for a segment read to its end; a segment missing has not begun.
 * A Query is segment 0.
 */
export type DynamoCursor = { readonly [segment: number]: DynamoKey | null }

/**
 * Turns one stored item into several events: `{ field, keep }` parses `item[field]` (a JSON array
 * as a string, or a list) and copies the `keep` attributes onto each of its events; a function
 * returns the events itself.
 */
export type DynamoUnwrap =
  | { readonly field: string; readonly keep?: readonly string[] }
  | ((item: Record<string, unknown>) => readonly unknown[])

/** Options shared by {@link scanDynamo} and `queryDynamo`. */
export interface DynamoReadOptions extends SourceOptions {
  /** A DynamoDBDocumentClient (or DynamoDBClient); the caller owns it and destroys it. */
  readonly client: DynamoClient
  readonly tableName: string
  /** Read a global or local secondary index instead of the table. */
  readonly indexName?: string
  /** Items per request (the `Limit` parameter). @default DynamoDB's own 1 MB pages */
  readonly pageSize?: number
  /** Strongly consistent reads (not on global secondary indexes). @default false */
  readonly consistentRead?: boolean
  /**
   * Top-level attributes to read (a ProjectionExpression built with #names). The key attributes are
   * always added, for positions and resuming. @default every attribute
   */
  readonly projection?: readonly string[]
  /** A server-side FilterExpression; filtered items still cost read capacity. */
  readonly filterExpression?: string
  /** `#name` placeholders for `filterExpression`. */
  readonly expressionAttributeNames?: Readonly<Record<string, string>>
  /** `:value` placeholders for `filterExpression` (plain JS values). */
  readonly expressionAttributeValues?: Readonly<Record<string, unknown>>
  /** Turn each item into several events (changesets); see {@link DynamoUnwrap}. */
  readonly unwrap?: DynamoUnwrap
  /**
   * The table's key attribute names, for positions. @default read with DescribeTable
   */
  readonly keyAttributes?: readonly string[]
  /** Retries of a page request on throttling, 5xx and dropped connections. @default 8 attempts */
  readonly retry?: RetryPolicy
  /** The name positions and stats carry. @default `dynamo:<tableName>` */
  readonly uri?: string
  /**
   * Go on just after the event at this position (a checkpoint's low-water mark: `positionOf(event)`
   * of the last event fully handled, from a read with the same table, index, segments and unwrap).
   * Nothing before it is read again, except the earlier events of an unwrapped item, which are
   * read and skipped.
   */
  readonly resumeFrom?: Position
}

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

/** @internal Validated common options. */
export interface ReadCommon {
  readonly options: DynamoReadOptions
  readonly uri: string
  readonly pageSize?: number
  readonly retry: Required<RetryPolicy>
}

/** @internal */
export function validateReadOptions(options: DynamoReadOptions, fn: string): ReadCommon {
  if (!options || typeof options !== 'object') {
    throw new HydratorError('ERR_INVALID_OPTION', `${fn} expects an options object with \`client\` and \`tableName\``)
  }
  if (!options.client || typeof (options.client as { send?: unknown }).send !== 'function') {
    throw new HydratorError('ERR_INVALID_OPTION', `expected \`client\` to be a DynamoDBDocumentClient (something with \`send\`), got \`${String(options.client)}\``)
  }
  assertString('tableName', options.tableName)
  assertDynamoName('tableName', options.tableName, 'table')
  if (options.indexName !== undefined) {
    assertString('indexName', options.indexName)
    assertDynamoName('indexName', options.indexName, 'index')
  }
  const pageSize = options.pageSize === undefined ? undefined : assertInteger('pageSize', options.pageSize, 1)
  if (options.consistentRead !== undefined && typeof options.consistentRead !== 'boolean') {
    throw new HydratorError('ERR_INVALID_OPTION', `expected \`consistentRead\` to be a boolean, got \`${String(options.consistentRead)}\``)
  }
  if (options.projection !== undefined) {
    if (!Array.isArray(options.projection) || options.projection.length === 0) {
      throw new HydratorError('ERR_INVALID_OPTION', `expected \`projection\` to be a non-empty array of attribute names, got \`${String(options.projection)}\``)
    }
    for (const name of options.projection) assertString('projection[]', name)
  }
  if (options.filterExpression !== undefined) assertString('filterExpression', options.filterExpression)
  if (options.expressionAttributeValues !== undefined) assertAttributeValues('expressionAttributeValues', options.expressionAttributeValues)
  if (options.keyAttributes !== undefined) {
    if (!Array.isArray(options.keyAttributes) || options.keyAttributes.length < 1 || options.keyAttributes.length > 2) {
      throw new HydratorError('ERR_INVALID_OPTION', `expected \`keyAttributes\` to be one or two attribute names, got \`${String(options.keyAttributes)}\``)
    }
    for (const name of options.keyAttributes) assertString('keyAttributes[]', name)
  }
  const unwrap = options.unwrap
  if (unwrap !== undefined && typeof unwrap !== 'function') {
    if (!unwrap || typeof unwrap !== 'object') {
      throw new HydratorError('ERR_INVALID_OPTION', `expected \`unwrap\` to be { field, keep? } or a function, got \`${String(unwrap)}\``)
    }
    assertString('unwrap.field', unwrap.field)
    if (unwrap.keep !== undefined && !Array.isArray(unwrap.keep)) {
      throw new HydratorError('ERR_INVALID_OPTION', `expected \`unwrap.keep\` to be an array of attribute names, got \`${String(unwrap.keep)}\``)
    }
  }
  const retry = validateRetryPolicy(options.retry)
  return {
    options,
    uri: options.uri ?? `dynamo:${options.tableName}${options.indexName ? `?index=${options.indexName}` : ''}`,
    retry,
    ...(pageSize !== undefined ? { pageSize } : {}),
  }
}

/** @internal Checks that `:placeholder` values are ones DynamoDB can hold, naming the bad one. */
export function assertAttributeValues(name: string, values: unknown): void {
  if (!values || typeof values !== 'object' || Array.isArray(values)) {
    throw new HydratorError('ERR_INVALID_OPTION', `expected \`${name}\` to be an object of :placeholder values, got \`${String(values)}\``)
  }
  for (const [placeholder, value] of Object.entries(values)) {
    try {
      toAttributeValue(value)
    } catch (error) {
      throw new HydratorError('ERR_INVALID_OPTION', `\`${name}\` \`${placeholder}\` cannot be a DynamoDB value: ${errorMessage(error)}`)
    }
  }
}

/** @internal The cursor a `resumeFrom` position carries, checked for shape. */
export function cursorOfPosition(position: Position | undefined): DynamoCursor | undefined {
  if (position === undefined) return undefined
  const cursor = position.cursor
  if (!cursor || typeof cursor !== 'object' || Array.isArray(cursor)) {
    throw new HydratorError(
      'ERR_CHECKPOINT_MISMATCH',
      `cannot resume from \`${JSON.stringify(position)}\`: it is not the position of an event read from DynamoDB (it has no cursor)`,
    )
  }
  return cursor as DynamoCursor
}

/** @internal Checks a cursor against the segments this source reads. */
export function validateCursor(cursor: DynamoCursor | undefined, owned: readonly number[]): Map<number, DynamoKey | null> {
  const out = new Map<number, DynamoKey | null>()
  if (cursor === undefined) return out
  if (!cursor || typeof cursor !== 'object' || Array.isArray(cursor)) {
    throw new HydratorError('ERR_INVALID_OPTION', `expected \`resume\` to be { [segment]: ExclusiveStartKey | null }, got \`${String(cursor)}\``)
  }
  for (const [k, v] of Object.entries(cursor)) {
    const segment = Number(k)
    if (!owned.includes(segment)) {
      throw new HydratorError(
        'ERR_CHECKPOINT_MISMATCH',
        `the resume cursor has segment \`${k}\`, but this source reads segments ${owned.join(', ')}: resume with the same segment, totalSegments and parallelism`,
      )
    }
    if (v !== null && (typeof v !== 'object' || Array.isArray(v))) {
      throw new HydratorError('ERR_INVALID_OPTION', `expected the resume key of segment ${k} to be a key object or null, got \`${String(v)}\``)
    }
    out.set(segment, v as DynamoKey | null)
  }
  return out
}

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

type LibDynamo = typeof import('@aws-sdk/lib-dynamodb')
type ClientDynamo = typeof import('@aws-sdk/client-dynamodb')

/** @internal Loads the SDK on first use, so importing event-hydrator never needs it. */
export async function loadSdk(): Promise<{ lib: LibDynamo; client: ClientDynamo }> {
  try {
    const [lib, client] = await Promise.all([import('@aws-sdk/lib-dynamodb'), import('@aws-sdk/client-dynamodb')])
    return { lib, client }
  } catch (error) {
    throw new HydratorError(
      'ERR_PLUGIN',
      'DynamoDB needs the packages @aws-sdk/client-dynamodb and @aws-sdk/lib-dynamodb: npm install @aws-sdk/client-dynamodb @aws-sdk/lib-dynamodb',
      { cause: error },
    )
  }
}

type Send = (command: unknown, options?: { abortSignal?: AbortSignal }) => Promise<Record<string, unknown>>

/** @internal The client's send, typed loosely: base and document commands both go through it. */
export function sendOf(client: DynamoClient): Send {
  const c = client as unknown as { send: Send }
  return (command, options) => c.send(command, options)
}

/** @internal DescribeTable (passing errors retried), with a missing table or index as ERR_TARGET_NOT_FOUND. */
export async function describeTable(
  client: DynamoClient,
  sdk: { client: ClientDynamo },
  tableName: string,
  indexName: string | undefined,
  signal: AbortSignal | undefined,
  retry: RetryPolicy | undefined,
  onRetry?: (reason: string) => void,
): Promise<TableDescription> {
  let table: TableDescription | undefined
  try {
    const send = sendOf(client)
    const out = await withRetry(
      () => send(new sdk.client.DescribeTableCommand({ TableName: tableName }), signal ? { abortSignal: signal } : undefined),
      retry,
      { isRetryable: (e) => !signal?.aborted && isRetryableAwsError(e), ...(signal ? { signal } : {}), ...(onRetry ? { onRetry } : {}) },
    )
    table = (out as { Table?: TableDescription }).Table
  } catch (error) {
    const config = awsConfigError(error, `DynamoDB table \`${tableName}\``, { opening: true })
    if (config) throw config
    throw new HydratorError('ERR_CONNECTION', `DescribeTable \`${tableName}\` failed: ${errorMessage(error)}`, { cause: error })
  }
  if (!table?.KeySchema) throw new HydratorError('ERR_TARGET_NOT_FOUND', `DynamoDB table \`${tableName}\` does not exist`)
  if (indexName !== undefined && !indexOf(table, indexName)) {
    const known = [...(table.GlobalSecondaryIndexes ?? []), ...(table.LocalSecondaryIndexes ?? [])].map((i) => i.IndexName)
    throw new HydratorError(
      'ERR_TARGET_NOT_FOUND',
      `DynamoDB table \`${tableName}\` has no index \`${indexName}\`${known.length ? `; its indexes: ${known.join(', ')}` : ''}`,
    )
  }
  return table
}

/** @internal The key schema of an index of a table description. */
export function indexOf(table: TableDescription, indexName: string) {
  return [...(table.GlobalSecondaryIndexes ?? []), ...(table.LocalSecondaryIndexes ?? [])].find((i) => i.IndexName === indexName)
}

/** @internal The attribute names of a key schema, partition key first. */
export function keyNames(schema: readonly { AttributeName?: string; KeyType?: string }[] | undefined): string[] {
  const s = [...(schema ?? [])].sort((a, b) => (a.KeyType === 'HASH' ? -1 : b.KeyType === 'HASH' ? 1 : 0))
  return s.map((k) => k.AttributeName!).filter(Boolean)
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
  let skip = from?.part !== undefined && from.key && typeof from.key === 'object' ? { key: from.key as DynamoKey, through: from.part } : undefined
  const startedAt: Position | undefined = from ?? (resume.size > 0 ? { source: uri, cursor: Object.fromEntries(resume) } : undefined)

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
        // Where the segment stands after an event: past `at`, or at its start when there is none.
        const cursorAt = (at: DynamoKey | null | undefined) => (at === undefined ? withoutSegment(base, segment) : { ...base, [segment]: at })
        let before = base[segment] // where this segment stands before the item
        for (const item of page.items) {
          const key = keyOfItem(item, table.keyAttributes)
          const after = startKeyAttributes === table.keyAttributes ? key : keyOfItem(item, startKeyAttributes)
          if (!unwrap) {
            control.stats.read++
            yield setPosition(item as T, { source: uri, key, cursor: cursorAt(after) })
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
              const position: Position = part.index === undefined ? { source: uri, key } : { source: uri, key, part: part.index }
              if ('failure' in part) {
                control.fail({ position, code: part.failure.code, message: `${formatKey(key)}: ${part.failure.message}` })
                continue
              }
              control.stats.read++
              // Only the item's last event moves the segment past the item.
              yield setPosition(part.event as T, { ...position, cursor: cursorAt(i === parts.length - 1 ? after : before) })
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

function sharedInput(options: DynamoReadOptions, pageSize: number | undefined, keyAttributes: readonly string[]): Record<string, unknown> {
  const input: Record<string, unknown> = { TableName: options.tableName }
  if (options.indexName) input.IndexName = options.indexName
  if (pageSize !== undefined) input.Limit = pageSize
  if (options.consistentRead) input.ConsistentRead = true
  const names: Record<string, string> = { ...(options.expressionAttributeNames ?? {}) }
  if (options.projection) {
    const attrs = [...new Set([...options.projection, ...keyAttributes])]
    input.ProjectionExpression = attrs
      .map((name, i) => {
        const placeholder = `#proj${i}`
        names[placeholder] = name
        return placeholder
      })
      .join(', ')
  }
  if (options.filterExpression) input.FilterExpression = options.filterExpression
  if (Object.keys(names).length) input.ExpressionAttributeNames = names
  if (options.expressionAttributeValues && Object.keys(options.expressionAttributeValues).length) {
    input.ExpressionAttributeValues = { ...options.expressionAttributeValues }
  }
  return input
}

/** @internal The primary key of an item, in key-schema order. */
export function keyOfItem(item: Record<string, unknown>, keyAttributes: readonly string[]): DynamoKey {
  const key: Record<string, unknown> = {}
  for (const name of keyAttributes) setOwn(key, name, item[name])
  return key
}

function sameKey(a: DynamoKey, b: DynamoKey): boolean {
  const names = Object.keys(a)
  return names.length === Object.keys(b).length && names.every((n) => valueEquals(a[n], b[n]))
}

function valueEquals(a: unknown, b: unknown): boolean {
  if (a instanceof Uint8Array && b instanceof Uint8Array) return Buffer.from(a).equals(b)
  return a === b
}

function withoutSegment(base: Record<number, DynamoKey | null | undefined>, segment: number): Record<number, DynamoKey | null> {
  const out = { ...base }
  delete out[segment]
  return out as Record<number, DynamoKey | null>
}

function formatKey(key: DynamoKey): string {
  return `item ${JSON.stringify(key)}`
}

// A failure of the whole item (not JSON, not an array) has no index.
type UnwrapPart = { index: number; event: unknown } | { index?: number; failure: { code: string; message: string } }

/** @internal Compiles an unwrap option into item -> parts (events, or failures of one part or the whole item). */
export function compileUnwrap(unwrap: DynamoUnwrap | undefined): ((item: Record<string, unknown>) => UnwrapPart[]) | undefined {
  if (unwrap === undefined) return undefined
  if (typeof unwrap === 'function') {
    return (item) => {
      let events: readonly unknown[]
      try {
        events = unwrap(item)
      } catch (error) {
        return [{ failure: { code: 'ERR_TRANSFORM', message: `unwrap threw: ${errorMessage(error)}` } }]
      }
      if (!Array.isArray(events)) {
        return [{ failure: { code: 'ERR_TRANSFORM', message: `unwrap returned ${typeof events}, expected an array of events` } }]
      }
      return events.map((event, index) =>
        event !== null && typeof event === 'object'
          ? { index, event }
          : { index, failure: { code: 'ERR_NOT_AN_OBJECT', message: `unwrapped event ${index} is ${event === null ? 'null' : typeof event}, expected an object` } },
      )
    }
  }
  const { field } = unwrap
  const keep = unwrap.keep ?? []
  return (item) => {
    let value = Object.hasOwn(item, field) ? item[field] : undefined
    if (typeof value === 'string') {
      try {
        value = JSON.parse(value)
      } catch (error) {
        return [{ failure: { code: 'ERR_INVALID_JSON', message: `\`${field}\` is not valid JSON (${errorMessage(error)})` } }]
      }
    }
    if (!Array.isArray(value)) {
      const got = value === undefined ? 'missing' : value === null ? 'null' : typeof value
      return [{ failure: { code: 'ERR_INVALID_JSON', message: `\`${field}\` is ${got}, expected a JSON array of events` } }]
    }
    const kept: Record<string, unknown> = {}
    for (const name of keep) if (Object.hasOwn(item, name) && item[name] !== undefined) setOwn(kept, name, item[name])
    return value.map((event: unknown, index: number) =>
      event !== null && typeof event === 'object' && !Array.isArray(event)
        ? { index, event: { ...kept, ...(event as Record<string, unknown>) } }
        : {
            index,
            failure: {
              code: 'ERR_NOT_AN_OBJECT',
              message: `\`${field}\`[${index}] is ${event === null ? 'null' : Array.isArray(event) ? 'an array' : typeof event}, expected an event object`,
            },
          },
    )
  }
}
