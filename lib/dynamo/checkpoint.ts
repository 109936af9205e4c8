// A checkpoint store in DynamoDB: one item per run (and share) in any table whose partition key
// is a string, whatever its name; conditional writes on a revision attribute.
import { HydratorError, errorMessage } from '../errors.js'
import { withRetry, type RetryPolicy } from '../retry.js'
import { awsConfigError, awsErrorName, isRetryableAwsError } from '../util/aws.js'
import type { CheckpointStore, StoredText } from '../checkpoint/store.js'
import { describeTable, keyNames, loadSdk, sendOf, type DynamoClient } from './client.js'

export interface DynamoCheckpointStoreOptions {
  /** A DynamoDBDocumentClient (or a DynamoDBClient). */
  readonly client: DynamoClient
  readonly tableName: string
  /** The item's partition key value: the run (and share), e.g. `backfill-2026-12/share-3-of-16`. */
  readonly id: string
  /** For messages and the report. @default `dynamo:<table>/<id>` */
  readonly uri?: string
  /** Retries of throttled or dropped requests. */
  readonly retry?: RetryPolicy
}

/** What a sort key is set to, when the table has one (of type S). */
const SORT_VALUE = 'event-hydrator#checkpoint'
/** DynamoDB's item size limit is 400 KB; a checkpoint is a few KB. */
const MAX_TEXT = 350_000

/**
 * Keeps checkpoints as items `{ <partition key>: id, checkpoint: <text>, rev: <n>, updatedAt }`.
 * The key attribute names are read with DescribeTable, so any table whose partition key is a
 * string will do (a sort key, if any, must be a string too and is set to a fixed value). Saves are
 * PutItem with `attribute_not_exists` (the first) or `rev = :expected`: a worker holding a stale
 * version writes nothing. Needs dynamodb:DescribeTable, GetItem, PutItem (and DeleteItem for
 * `remove`) on the table.
 *
 * @example
 * const store = dynamoCheckpointStore({ client, tableName: 'hydration-checkpoints', id: 'backfill-1' })
 * await hydrate({ source: 'dynamo:events', sink: 'dynamo:users', checkpoint: store })
 */
export function dynamoCheckpointStore(options: DynamoCheckpointStoreOptions): CheckpointStore {
  const { client, tableName, id } = options
  if (typeof id !== 'string' || id === '') throw new HydratorError('ERR_INVALID_URI', `a DynamoDB checkpoint needs an item id: \`dynamo:${tableName}/<run-id>\``)
  const uri = options.uri ?? `dynamo:${tableName}/${id}`
  const send = sendOf(client)
  let keyOf: Promise<{ key: Record<string, string>; lib: Awaited<ReturnType<typeof loadSdk>>['lib'] }> | undefined

  // Looked up once; a failed look-up (unreachable, denied) is tried again on the next call.
  const resolveKey = () =>
    (keyOf ??= (async () => {
      const sdk = await loadSdk()
      const table = await describeTable(client, sdk, tableName, undefined, undefined, options.retry).catch((error: unknown) => {
        if (error instanceof HydratorError) throw new HydratorError(error.code, `the checkpoint ${uri}: ${error.message}`, { cause: error })
        throw error
      })
      const [pk, sk] = keyNames(table.KeySchema)
      const typeOf = (name: string | undefined) => table.AttributeDefinitions?.find((a) => a.AttributeName === name)?.AttributeType
      if (typeOf(pk) !== 'S' || (sk !== undefined && typeOf(sk) !== 'S')) {
        throw new HydratorError(
          'ERR_TARGET_SCHEMA',
          `DynamoDB table \`${tableName}\` cannot hold checkpoints: its partition key \`${pk}\` is of type ${typeOf(pk)}${sk ? ` and its sort key \`${sk}\` of type ${typeOf(sk)}` : ''}; a checkpoint table needs a string (S) partition key (and a string sort key, if any)`,
        )
      }
      return { key: { [pk!]: id, ...(sk ? { [sk]: SORT_VALUE } : {}) }, lib: sdk.lib }
    })().catch((error: unknown) => {
      keyOf = undefined
      throw error
    }))

  const call = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    try {
      return await withRetry(fn, options.retry, { isRetryable: isRetryableAwsError })
    } catch (error) {
      if (awsErrorName(error) === 'ConditionalCheckFailedException') throw error
      const config = awsConfigError(error, `the checkpoint ${uri} (DynamoDB table \`${tableName}\`)`, { opening: true })
      if (config) throw config
      throw new HydratorError('ERR_CONNECTION', `${what} of the checkpoint ${uri} failed: ${errorMessage(error)}`, { cause: error })
    }
  }
  const conditional = async (what: string, fn: () => Promise<unknown>): Promise<boolean> => {
    try {
      await call(what, fn)
      return true
    } catch (error) {
      if (awsErrorName(error) === 'ConditionalCheckFailedException') return false
      throw error
    }
  }

  return {
    uri,
    async load(): Promise<StoredText | undefined> {
      const { key, lib } = await resolveKey()
      const out = await call('GetItem', () => send(new lib.GetCommand({ TableName: tableName, Key: key, ConsistentRead: true })))
      const item = (out as { Item?: Record<string, unknown> }).Item
      if (!item) return undefined
      if (typeof item.checkpoint !== 'string' || typeof item.rev !== 'number') {
        throw new HydratorError('ERR_CHECKPOINT_MISMATCH', `--checkpoint ${uri}: the item is not an event-hydrator checkpoint (no \`checkpoint\` and \`rev\` attributes)`)
      }
      return { text: item.checkpoint, version: String(item.rev) }
    },
    async save(text, expected) {
      if (text.length > MAX_TEXT) throw new HydratorError('ERR_ITEM_TOO_LARGE', `the checkpoint for ${uri} is ${text.length} bytes, over what one DynamoDB item holds`)
      const { key, lib } = await resolveKey()
      const rev = expected === undefined ? 1 : Number(expected) + 1
      const pk = Object.keys(key)[0]!
      const ok = await conditional('PutItem', () =>
        send(
          new lib.PutCommand({
            TableName: tableName,
            Item: { ...key, checkpoint: text, rev, updatedAt: new Date().toISOString() },
            ...(expected === undefined
              ? { ConditionExpression: 'attribute_not_exists(#pk)', ExpressionAttributeNames: { '#pk': pk } }
              : { ConditionExpression: '#rev = :rev', ExpressionAttributeNames: { '#rev': 'rev' }, ExpressionAttributeValues: { ':rev': Number(expected) } }),
          }),
        ),
      )
      return ok ? String(rev) : undefined
    },
    async remove(expected) {
      const { key, lib } = await resolveKey()
      return conditional('DeleteItem', () =>
        send(
          new lib.DeleteCommand({
            TableName: tableName,
            Key: key,
            ConditionExpression: '#rev = :rev',
            ExpressionAttributeNames: { '#rev': 'rev' },
            ExpressionAttributeValues: { ':rev': Number(expected) },
          }),
        ),
      )
    },
  }
}
