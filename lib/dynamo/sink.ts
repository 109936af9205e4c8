import type { AttributeValue, TableDescription } from '@aws-sdk/client-dynamodb'
import { HydratorError, errorMessage } from '../errors.js'
import { collapseByKey, compileMapping, type CompiledMapping, type Mapping, type RowWrite } from '../mapping.js'
import type { Sink } from '../types.js'
import { awsConfigError, awsErrorName, awsHttpStatus, isRetryableAwsError } from '../util/aws.js'
import { fromAttributeMap, toAttributeValue } from './codec.js'
import { assertDynamoName } from './names.js'
import { assertInteger, assertString } from '../util/options.js'
import { validateRetryPolicy, withRetry, type RetryPolicy } from '../retry.js'
import { describeTable, keyNames, loadSdk, sendOf, type DynamoClient } from './client.js'
import { toWrite, type DynamoWrite } from './items.js'
import { defineSink, type DriverContext, type SinkOptions, type WriteOutcome } from '../define-sink.js'

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
   */
  readonly mapping: Mapping
  /** Writes per request: BatchWriteItem items (unversioned) or conditional writes sent together (versioned), 1 to 25. @default 25 */
  readonly batchSize?: number
  /** Batches in flight; two never share a key, so writes to one key stay in order. @default 8 */
  readonly concurrency?: number
  /** Retries of throttling, 5xx, dropped connections and UnprocessedItems. @default 8 attempts, 100 ms to 20 s, full jitter */
  readonly retry?: RetryPolicy
  /** The name the report shows. @default `dynamo:<tableName>` */
  readonly uri?: string
}

/**
 * Writes events to a DynamoDB table through the storage mapping. Unversioned: BatchWriteItem in
 * batches of at most 25, same-key writes in a batch collapsed (the last one wins, the others are
 * skipped); UnprocessedItems, throttling, 5xx and dropped connections are retried with exponential
 * backoff and jitter, and an item still not written when attempts run out becomes a failure
 * (ERR_RETRIES_EXHAUSTED) with its key. Versioned (`mapping.versionColumn`): one conditional PutItem
 * or DeleteItem per event, `attribute_not_exists(pk) OR version < :v`; a failed condition is a stale
 * skip. Writes to one key never overtake each other, whatever `concurrency`. An item over 400 KB
 * (ERR_ITEM_TOO_LARGE) or one the table rejects (a wrong key type: ERR_WRITE_REJECTED) fails alone
 * with its key. `open` checks the table with DescribeTable: missing → ERR_TARGET_NOT_FOUND; a key
 * attribute not mapped → ERR_TARGET_SCHEMA.
 *
 * @example
 * const result = await pipe(readJsonLines('events.ndjson'), toDynamo({
 *   client: DynamoDBDocumentClient.from(new DynamoDBClient({})), tableName: 'orders',
 *   mapping: { columns: { id: 'detail.orderId', version: 'detail.version', status: 'detail.status' }, key: ['id'], versionColumn: 'version' },
 * }))
 */
export function toDynamo<In = unknown>(options: ToDynamoOptions): Sink<In> {
  if (!options || typeof options !== 'object') {
    throw new HydratorError('ERR_INVALID_OPTION', 'toDynamo expects an options object with `client`, `tableName` and `mapping`')
  }
  const { client, tableName } = options
  if (!client || typeof (client as { send?: unknown }).send !== 'function') {
    throw new HydratorError('ERR_INVALID_OPTION', `expected \`client\` to be a DynamoDBDocumentClient (something with \`send\`), got \`${String(client)}\``)
  }
  assertString('tableName', tableName)
  assertDynamoName('tableName', tableName, 'table')
  const compiled = compileMapping(options.mapping)
  const batchSize = assertInteger('batchSize', options.batchSize ?? MAX_BATCH, 1, MAX_BATCH)
  const concurrency = assertInteger('concurrency', options.concurrency ?? 8, 1)
  const retry = validateRetryPolicy(options.retry)
  const driver = dynamoDriver(client, tableName, compiled, retry, options.uri ?? `dynamo:${tableName}`)
  return defineSink<In, DynamoWrite>(driver, { ...options, batchSize, concurrency })
}

function dynamoDriver(client: DynamoClient, tableName: string, compiled: CompiledMapping, retry: Required<RetryPolicy>, uri: string) {
  const send = sendOf(client)
  const versionColumn = compiled.mapping.versionColumn
  let sdk: Awaited<ReturnType<typeof loadSdk>>
  let keyAttributes: string[] = []

  const keyStringOf = (item: Record<string, unknown>) => JSON.stringify(compiled.mapping.key.map((k) => item[k]))

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
    else input.Key = w.attributes
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
      await withRetry(
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
        },
      )
      return done(w, attempts)
    } catch (error) {
      if (awsErrorName(error) === 'ConditionalCheckFailedException') {
        // A retry after a lost answer finds its own write: that one was written, not stale.
        if (maybeApplied && storedVersion(error, versionColumn) === w.version) return done(w, attempts)
        return {
          status: 'skipped',
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
          const left = new Set(unprocessed.map((r) => keyStringOf(fromAttributeMap(r.PutRequest?.Item ?? r.DeleteRequest?.Key ?? {}))))
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

  return {
    uri,
    async open(context: DriverContext) {
      sdk = await loadSdk()
      const table = await describeTable(client, sdk, tableName, undefined, context.signal, retry, (reason) => context.retried(reason))
      keyAttributes = keyNames(table.KeySchema)
      checkSchema(table, keyAttributes, compiled, tableName)
    },
    prepare(event: unknown): DynamoWrite {
      return toWrite(compiled.toRow(event), keyAttributes)
    },
    keyOf: (w: DynamoWrite) => w.keyString,
    sizeOf: (w: DynamoWrite) => w.sizeBytes,
    preview(w: DynamoWrite) {
      if (w.problem) return { error: w.problem.code, key: w.key }
      const request = w.op === 'put' ? { PutRequest: { Item: w.item } } : { DeleteRequest: { Key: w.key } }
      return versionColumn === undefined ? request : { ...request, condition: `attribute_not_exists(${keyAttributes[0]}) OR ${versionColumn} < ${w.version}` }
    },
    async write(batch: readonly DynamoWrite[], context: DriverContext): Promise<readonly WriteOutcome[]> {
      const outcomes: WriteOutcome[] = new Array(batch.length)
      const live: number[] = []
      for (let i = 0; i < batch.length; i++) {
        const w = batch[i]!
        if (w.problem) outcomes[i] = { status: 'failed', code: w.problem.code, message: w.problem.message, key: w.key, attempts: 0 }
        else live.push(i)
      }
      // No key twice in one request: DynamoDB rejects such a batch, and order within it is not kept.
      const rows = live.map((i) => ({ keyString: batch[i]!.keyString, version: batch[i]!.version }) as RowWrite)
      const { survivors, survivorOf } = collapseByKey(rows)
      const keep: number[] = []
      for (let n = 0; n < live.length; n++) {
        const i = live[n]!
        if (survivorOf[n] === n) continue
        outcomes[i] = { status: 'skipped', key: batch[i]!.key, message: 'superseded by a later write to the same key in the batch' }
      }
      for (const n of survivors) keep.push(live[n]!)
      if (keep.length > 0) {
        if (versionColumn === undefined) {
          await writeBatch(batch, keep, outcomes, context)
        } else {
          const results = await Promise.all(keep.map((i) => writeOne(batch[i]!, context)))
          keep.forEach((i, n) => {
            outcomes[i] = results[n]!
          })
        }
      }
      return outcomes
    },
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

function checkSchema(table: TableDescription, keyAttributes: readonly string[], compiled: CompiledMapping, tableName: string): void {
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
  void table
}
