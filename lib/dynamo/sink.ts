import type { AttributeValue } from '@aws-sdk/client-dynamodb'
import { HydratorError, errorMessage } from '../errors.js'
import { collapseByKey, compileMapping, type CompiledMapping, type Mapping, type RowWrite } from '../mapping.js'
import type { Sink } from '../types.js'
import { awsConfigError, awsErrorName, awsHttpStatus, isAwsThrottle, isRetryableAwsError } from '../util/aws.js'
import { fromAttributeMap, toAttributeValue } from './codec.js'
import { assertDynamoName } from './names.js'
import { assertInteger, assertString } from '../util/options.js'
import { validateRetryPolicy, withRetry, type RetryPolicy } from '../retry.js'
import { describeTable, keyNames, loadSdk, sendOf, type DynamoClient } from './client.js'
import { toWrite, type DynamoWrite } from './items.js'
import { documentRow, keyAttributesOf, keyProblem, keyStringOf, type KeyAttribute } from './document.js'
import { planWrite, readStored, storedAfter, type StoredItem } from './plan.js'
import { openingFirst, rebuildName, rebuildOptionsOf, type RebuildOptions } from '../rebuild.js'
import { dynamoRebuild, openDynamoRebuild } from './rebuild.js'
import { defineSink, withSinkInfo, PlanOverlay, type DriverContext, type PlannedWrite, type SinkOptions, type WriteOutcome } from '../define-sink.js'

/** BatchWriteItem takes at most 25 writes. */
const MAX_BATCH = 25

/** Options of {@link toDynamo}. */
export interface ToDynamoOptions extends SinkOptions {
  /** A DynamoDBDocumentClient (or DynamoDBClient); the caller owns it and destroys it. */
  readonly client: DynamoClient
  readonly tableName: string
  /**
   * Columns become attributes (objects and arrays become maps and lists; a missing or null value
   * leaves the attribute out); `key` must be the table's key attributes; with `versionColumn`, writes
   * are conditional and only a higher version overwrites.
   * @default none: each event is the item, its key attributes (the table's KeySchema) taken from it
   */
  readonly mapping?: Mapping
  /** Writes per request: BatchWriteItem items (unversioned) or conditional writes sent together (versioned), 1 to 25. @default 25 */
  readonly batchSize?: number
  /** Batches in flight; two never share a key, so writes to one key stay in order. @default 8 */
  readonly concurrency?: number
  /** Retries of throttling, 5xx, dropped connections and UnprocessedItems. @default 8 attempts, 100 ms to 20 s, full jitter */
  readonly retry?: RetryPolicy
  /** The name the report shows. @default `dynamo:<tableName>` */
  readonly uri?: string
  /**
   * Keys a dry run's plan follows (their planned key and version); past it the plan forgets the
   * oldest and says it is no longer exact. @default 1000000
   */
  readonly maxPlannedKeys?: number
  /**
   * Write into a new table `<tableName>__rebuild_<id>` created like `tableName` (keys, indexes,
   * billing mode), named in `sink.rebuild`; DynamoDB cannot rename a table, so nothing is swapped.
   * `true` picks a random id. @default undefined (write into `tableName` itself)
   */
  readonly rebuild?: RebuildOptions | boolean
}

/**
 * Writes events to a DynamoDB table: each event as the item (its key attributes, from the table's
 * KeySchema, taken from the event; one without them, or with a type the table does not declare,
 * fails with ERR_MAPPING), or through the storage `mapping`. Unversioned: BatchWriteItem in
 * batches of at most 25, same-key writes in a batch collapsed (the last one wins, the others are
 * skipped as `duplicateInBatch`); UnprocessedItems, throttling, 5xx and dropped connections are
 * retried with exponential backoff and jitter, and an item still not written when attempts run out
 * becomes a failure (ERR_RETRIES_EXHAUSTED) with its key. Versioned (`mapping.versionColumn`): one
 * conditional PutItem or DeleteItem per event, `attribute_not_exists(pk) OR version < :v`; a failed
 * condition is a `stale` skip. Deletes are DeleteItem requests returning the old item, so a delete of
 * an item that is not there is a `deleteOfMissing` skip. Writes to one key never overtake each other,
 * whatever `concurrency`. An item over 400 KB (ERR_ITEM_TOO_LARGE) or one the table rejects (a wrong
 * key type: ERR_WRITE_REJECTED) fails alone with its key. `open` checks the table with DescribeTable:
 * missing → ERR_TARGET_NOT_FOUND; a key attribute not mapped → ERR_TARGET_SCHEMA. A dry run reads
 * the stored key and version of each batch's items (BatchGetItem) and plans what the write would do.
 *
 * @example
 * const client = DynamoDBDocumentClient.from(new DynamoDBClient({}))
 * await pipe(readJsonLines('events.ndjson'), toDynamo({ client, tableName: 'events' })) // events as items
 * const result = await pipe(readJsonLines('events.ndjson'), toDynamo({
 *   client, tableName: 'orders',
 *   mapping: { columns: { id: 'detail.orderId', version: 'detail.version', status: 'detail.status' }, key: ['id'], versionColumn: 'version' },
 * }))
 */
export function toDynamo<In = unknown>(options: ToDynamoOptions): Sink<In> {
  if (!options || typeof options !== 'object') {
    throw new HydratorError('ERR_INVALID_OPTION', 'toDynamo expects an options object with `client`, `tableName` and optionally `mapping`')
  }
  const { client, tableName } = options
  if (!client || typeof (client as { send?: unknown }).send !== 'function') {
    throw new HydratorError('ERR_INVALID_OPTION', `expected \`client\` to be a DynamoDBDocumentClient (something with \`send\`), got \`${String(client)}\``)
  }
  assertString('tableName', tableName)
  assertDynamoName('tableName', tableName, 'table')
  const compiled = options.mapping === undefined ? undefined : compileMapping(options.mapping)
  const batchSize = assertInteger('batchSize', options.batchSize ?? MAX_BATCH, 1, MAX_BATCH)
  const concurrency = assertInteger('concurrency', options.concurrency ?? 8, 1)
  const retry = validateRetryPolicy(options.retry)
  const maxPlannedKeys = assertInteger('maxPlannedKeys', options.maxPlannedKeys ?? 1_000_000, 1)
  const rebuild = rebuildOptionsOf(options.rebuild)
  // --rebuild: the driver writes a new table, made when it opens, with the keys it reads from the live
  // one; a dry run whose new table is not there yet plans against an empty table.
  let empty = false
  const written = rebuild ? rebuildName(tableName, rebuild.id) : tableName
  if (rebuild) assertDynamoName('tableName', written, 'table')
  const driver = dynamoDriver(client, written, compiled, retry, options.uri ?? `dynamo:${tableName}`, maxPlannedKeys, rebuild && { describe: tableName, empty: () => empty })
  const opened = rebuild ? openingFirst(driver, async (context) => (empty = !(await openDynamoRebuild(client, tableName, rebuild, context.dryRun, retry, context.signal)))) : driver
  const sink = defineSink<In, DynamoWrite>(opened, { ...options, batchSize, concurrency })
  return rebuild ? withSinkInfo(sink, { rebuild: dynamoRebuild(tableName, rebuild) }) : sink
}

function dynamoDriver(
  client: DynamoClient,
  tableName: string,
  compiled: CompiledMapping | undefined,
  retry: Required<RetryPolicy>,
  uri: string,
  maxPlannedKeys: number,
  // --rebuild: the table whose keys to read, and whether the written one is known to be empty.
  rebuilding?: { readonly describe: string; readonly empty: () => boolean } | undefined,
) {
  const send = sendOf(client)
  const versionColumn = compiled?.mapping.versionColumn
  let sdk: Awaited<ReturnType<typeof loadSdk>>
  let keyAttributes: string[] = []
  let keyTypes: KeyAttribute[] = []
  // Key values in the order of a write's keyString: the mapping's key, or the table's.
  let keyOrder: readonly string[] = []
  let overlay = new PlanOverlay<StoredItem>(maxPlannedKeys)

  const itemKeyString = (item: Record<string, unknown>) => keyStringOf(keyOrder.map((k) => item[k]))

  const requestOf = (w: DynamoWrite) => (w.op === 'put' ? { PutRequest: { Item: w.attributes } } : { DeleteRequest: { Key: w.attributes } })

  const done = (w: DynamoWrite, attempts: number): WriteOutcome => ({
    status: 'written',
    key: w.key,
    attempts,
    ...(w.op === 'delete' ? { deleted: true } : {}),
  })

  const rejected = (w: DynamoWrite, error: unknown, attempts: number): WriteOutcome => {
    const name = awsErrorName(error)
    const message = errorMessage(error)
    const tooLarge = /item size|exceed.*size|size.*exceed/i.test(message)
    return {
      status: 'failed',
      code: tooLarge ? 'ERR_ITEM_TOO_LARGE' : isRetryableAwsError(error) ? 'ERR_RETRIES_EXHAUSTED' : 'ERR_WRITE_REJECTED',
      message: `${tableName} ${w.keyString}: ${name ? `${name}: ` : ''}${message}${isRetryableAwsError(error) ? ` (gave up after ${attempts} attempts)` : ''}`,
      key: w.key,
      attempts,
    }
  }

  // Errors that mean the whole run is misconfigured: stop instead of failing every event.
  const fatalOf = (error: unknown) => awsConfigError(error, `DynamoDB table \`${tableName}\``)

  /** One write on its own (PutItem / DeleteItem), conditional when versioned. */
  const writeOne = async (w: DynamoWrite, context: DriverContext): Promise<WriteOutcome> => {
    let attempts = 0
    const input: Record<string, unknown> = { TableName: tableName }
    if (w.op === 'put') input.Item = w.attributes
    else {
      input.Key = w.attributes
      // The old item tells a delete that removed something from one that found nothing.
      input.ReturnValues = 'ALL_OLD'
    }
    if (versionColumn !== undefined && w.version !== undefined) {
      input.ConditionExpression = 'attribute_not_exists(#pk) OR #version < :version'
      input.ExpressionAttributeNames = { '#pk': keyAttributes[0], '#version': versionColumn }
      // Checked in toWrite: a version DynamoDB cannot hold is a problem there.
      input.ExpressionAttributeValues = { ':version': toAttributeValue(w.version) }
      input.ReturnValuesOnConditionCheckFailure = 'ALL_OLD'
    }
    const command = () => (w.op === 'put' ? new sdk.client.PutItemCommand(input as never) : new sdk.client.DeleteItemCommand(input as never))
    // Whether an earlier attempt may have been applied although it failed (no answer, or a 5xx).
    let maybeApplied = false
    try {
      const out = await withRetry(
        (attempt) => {
          attempts = attempt
          return send(command())
        },
        retry,
        {
          isRetryable: (e) => {
            const retryable = isRetryableAwsError(e)
            if (retryable) {
              const status = awsHttpStatus(e)
              if (status === undefined || status >= 500) maybeApplied = true
            }
            return retryable
          },
          onRetry: (reason) => context.retried(reason),
          isThrottle: isAwsThrottle,
          throttle: context.throttle,
        },
      )
      // An earlier attempt whose answer was lost may have been the one that deleted it.
      if (w.op === 'delete' && !out.Attributes && !maybeApplied) {
        return { status: 'skipped', reason: 'deleteOfMissing', key: w.key, attempts, message: 'no item with this key to delete' }
      }
      return done(w, attempts)
    } catch (error) {
      if (awsErrorName(error) === 'ConditionalCheckFailedException') {
        // A retry after a lost answer finds its own write: that one was written, not stale.
        if (maybeApplied && storedVersion(error, versionColumn) === w.version) return done(w, attempts)
        return {
          status: 'skipped',
          reason: 'stale',
          key: w.key,
          attempts,
          message: `stale: stored version is not lower than ${w.version}`,
        }
      }
      const fatal = fatalOf(error)
      if (fatal) throw fatal
      return rejected(w, error, attempts)
    }
  }

  /** BatchWriteItem with UnprocessedItems and throttling retried; fills `outcomes` for `indices`. */
  const writeBatch = async (batch: readonly DynamoWrite[], indices: number[], outcomes: WriteOutcome[], context: DriverContext) => {
    let remaining = indices
    let attempts = 0
    try {
      await withRetry(
        async (attempt) => {
          attempts = attempt
          const out = await send(
            new sdk.client.BatchWriteItemCommand({ RequestItems: { [tableName]: remaining.map((i) => requestOf(batch[i]!)) } } as never),
          )
          const unprocessed = ((out.UnprocessedItems as Record<string, Record<string, { Item?: Record<string, AttributeValue>; Key?: Record<string, AttributeValue> }>[]> | undefined) ?? {})[
            tableName
          ] ?? []
          const left = new Set(unprocessed.map((r) => itemKeyString(fromAttributeMap(r.PutRequest?.Item ?? r.DeleteRequest?.Key ?? {}))))
          const still = remaining.filter((i) => left.has(batch[i]!.keyString))
          // Every unprocessed entry must be one of ours; if one cannot be told apart, claim nothing
          // and send them all again (puts and deletes of distinct keys may safely be repeated).
          if (still.length === unprocessed.length) {
            for (const i of remaining) if (!left.has(batch[i]!.keyString)) outcomes[i] = done(batch[i]!, attempt)
            remaining = still
          }
          if (remaining.length > 0) throw new UnprocessedItemsError(remaining.length)
        },
        retry,
        {
          isRetryable: (e) => e instanceof UnprocessedItemsError || isRetryableAwsError(e),
          onRetry: (reason) => context.retried(reason),
          // UnprocessedItems is how DynamoDB throttles part of a batch.
          isThrottle: (e) => e instanceof UnprocessedItemsError || isAwsThrottle(e),
          throttle: context.throttle,
        },
      )
    } catch (error) {
      if (error instanceof UnprocessedItemsError) {
        for (const i of remaining) {
          outcomes[i] = {
            status: 'failed',
            code: 'ERR_RETRIES_EXHAUSTED',
            message: `${tableName} ${batch[i]!.keyString}: still in UnprocessedItems after ${attempts} attempts`,
            key: batch[i]!.key,
            attempts,
          }
        }
        return
      }
      const fatal = fatalOf(error)
      if (fatal) throw fatal
      const clientSide = !(error as { $metadata?: unknown }).$metadata && !isRetryableAwsError(error)
      if ((awsErrorName(error) === 'ValidationException' || clientSide) && remaining.length > 0) {
        // One bad item fails the whole request: write them one by one to find it, the rest get written.
        const singles = await Promise.all(remaining.map((i) => writeOne(batch[i]!, context)))
        remaining.forEach((i, n) => {
          outcomes[i] = singles[n]!
        })
        return
      }
      for (const i of remaining) outcomes[i] = rejected(batch[i]!, error, attempts)
    }
  }

  /** The writes of a batch that reach the table: no `problem`, one per key (the others collapsed). */
  const survivorsOf = (batch: readonly DynamoWrite[], skip: (i: number, w: DynamoWrite) => void, fail: (i: number, w: DynamoWrite) => void, held?: (i: number) => boolean): number[] => {
    const live: number[] = []
    for (let i = 0; i < batch.length; i++) {
      if (batch[i]!.problem) fail(i, batch[i]!)
      else if (!held?.(i)) live.push(i)
    }
    // No key twice in one request: DynamoDB rejects such a batch, and order within it is not kept.
    const rows = live.map((i) => ({ keyString: batch[i]!.keyString, version: batch[i]!.version }) as RowWrite)
    const { survivors, survivorOf } = collapseByKey(rows)
    live.forEach((i, n) => {
      if (survivorOf[n] !== n) skip(i, batch[i]!)
    })
    return survivors.map((n) => live[n]!)
  }

  return {
    uri,
    async open(context: DriverContext) {
      sdk = await loadSdk()
      const table = await describeTable(client, sdk, rebuilding?.describe ?? tableName, undefined, context.signal, retry, (reason) => context.retried(reason))
      keyAttributes = keyNames(table.KeySchema)
      keyTypes = keyAttributesOf(table)
      keyOrder = compiled ? compiled.mapping.key : keyAttributes
      if (compiled) checkSchema(keyAttributes, compiled, tableName)
      overlay = new PlanOverlay<StoredItem>(maxPlannedKeys)
    },
    prepare(event: unknown): DynamoWrite {
      return toWrite(compiled ? compiled.toRow(event) : documentRow(event, keyTypes, tableName), keyAttributes)
    },
    keyOf: (w: DynamoWrite) => w.keyString,
    collapsesByKey: true,
    sizeOf: (w: DynamoWrite) => w.sizeBytes,
    async write(batch: readonly DynamoWrite[], context: DriverContext): Promise<readonly WriteOutcome[]> {
      const outcomes: WriteOutcome[] = new Array(batch.length)
      // Parking: a write after a failed one of its key in this batch is neither sent nor collapsed into.
      const parking = context.parking
      if (parking) batch.forEach((w, i) => w.problem && parking.failed(i))
      const keep = survivorsOf(
        batch,
        (i, w) => (outcomes[i] = { status: 'skipped', reason: 'duplicateInBatch', key: w.key, message: 'superseded by a later write to the same key in the batch' }),
        (i, w) => (outcomes[i] = { status: 'failed', code: w.problem!.code, message: w.problem!.message, key: w.key, attempts: 0 }),
        parking && ((i) => parking.parked(i) && (outcomes[i] = { status: 'parked' }) !== undefined),
      )
      const one = async (i: number) => {
        outcomes[i] = await writeOne(batch[i]!, context)
      }
      if (versionColumn !== undefined) {
        await Promise.all(keep.map(one))
      } else {
        // Puts go in BatchWriteItem; deletes one by one, which tells a delete of a missing item apart.
        // Keys are distinct after collapsing, so the two may run side by side.
        const puts = keep.filter((i) => batch[i]!.op === 'put')
        await Promise.all([puts.length > 0 ? writeBatch(batch, puts, outcomes, context) : undefined, ...keep.filter((i) => batch[i]!.op === 'delete').map(one)])
      }
      return outcomes
    },
    async plan(batch: readonly DynamoWrite[], context: DriverContext): Promise<readonly PlannedWrite[]> {
      const planned: PlannedWrite[] = new Array(batch.length)
      const keep = survivorsOf(
        batch,
        (i, w) => (planned[i] = { op: 'skip', reason: 'duplicateInBatch', key: w.key, ...(w.op === 'put' ? { next: w.item } : {}) }),
        (i, w) => (planned[i] = { op: 'fail', code: w.problem!.code, message: w.problem!.message, key: w.key }),
      )
      const reach: number[] = []
      for (const i of keep) {
        const w = batch[i]!
        // DynamoDB refuses a key of another type than the table declares, or too long (ValidationException).
        let problem: ReturnType<typeof keyProblem>
        for (let k = 0; k < keyTypes.length && !problem; k++) problem = keyProblem(w.key[keyTypes[k]!.name], keyTypes[k]!, k)
        // The key is in the failure's `key`: one too long to be a key would crowd out the reason.
        if (problem) planned[i] = { op: 'fail', code: problem.code, message: `${tableName}: ValidationException: ${problem.message}`, key: w.key }
        else reach.push(i)
      }
      // Read only what the plan does not know yet: the key and version attributes of the other keys.
      const unknown = reach.filter((i) => !overlay.has(batch[i]!.keyString)).map((i) => batch[i]!.key)
      const projected = versionColumn !== undefined ? [...keyAttributes, versionColumn] : keyAttributes
      const stored = unknown.length > 0 && !rebuilding?.empty() ? await readStored(send, sdk, tableName, unknown, keyOrder, projected, retry, context.retried) : new Map<string, Record<string, unknown>>()
      for (const i of reach) {
        const w = batch[i]!
        const current = overlay.has(w.keyString) ? overlay.get(w.keyString)! : (stored.get(w.keyString) ?? null)
        const p = planWrite(w, current, versionColumn)
        if (p.op !== 'skip') overlay.set(w.keyString, storedAfter(w, versionColumn))
        planned[i] = p
      }
      return planned
    },
    planIsExact: () => overlay.exact,
  }
}

class UnprocessedItemsError extends Error {
  override readonly name = 'UnprocessedItems'
  constructor(count: number) {
    super(`${count} items came back in UnprocessedItems`)
  }
}

function storedVersion(error: unknown, versionColumn: string | undefined): number | undefined {
  if (versionColumn === undefined) return undefined
  const item = (error as { Item?: Record<string, unknown> }).Item
  const v = item?.[versionColumn]
  if (typeof v === 'number') return v
  if (v && typeof v === 'object' && typeof (v as { N?: unknown }).N === 'string') return Number((v as { N: string }).N)
  return undefined
}

function checkSchema(keyAttributes: readonly string[], compiled: CompiledMapping, tableName: string): void {
  const columns = compiled.columnNames
  const missing = keyAttributes.filter((k) => !columns.includes(k))
  if (missing.length > 0) {
    throw new HydratorError(
      'ERR_TARGET_SCHEMA',
      `table \`${tableName}\` has the key ${keyAttributes.join(', ')}, but the mapping has no column ${missing.map((m) => `\`${m}\``).join(', ')}: add ${missing.map((m) => `\`--column ${m}=<json path>\``).join(' ')}`,
    )
  }
  const key = compiled.mapping.key
  if (key.length !== keyAttributes.length || !key.every((k) => keyAttributes.includes(k))) {
    throw new HydratorError(
      'ERR_TARGET_SCHEMA',
      `table \`${tableName}\` has the key ${keyAttributes.join(', ')}, but the mapping's key is ${key.join(', ')}: use \`--key ${keyAttributes.join(',')}\``,
    )
  }
  const version = compiled.mapping.versionColumn
  if (version !== undefined && keyAttributes.includes(version)) {
    throw new HydratorError('ERR_TARGET_SCHEMA', `the version column \`${version}\` is a key attribute of table \`${tableName}\`; use another attribute`)
  }
}
