// Dry runs of the DynamoDB sink that show a plan: the stored key and version of the items a batch
// touches, read with BatchGetItem (read-only, strongly consistent, only the key and version
// attributes), and what the real write of each event would do with them.
import type { AttributeValue } from '@aws-sdk/client-dynamodb'
import { HydratorError, errorMessage } from '../errors.js'
import type { PlannedWrite } from '../define-sink.js'
import { awsConfigError, awsErrorName, isRetryableAwsError } from '../util/aws.js'
import { withRetry, type RetryPolicy } from '../retry.js'
import { fromAttributeMap, toAttributeMap } from './codec.js'
import { keyStringOf } from './document.js'
import type { DynamoKey, loadSdk } from './client.js'
import type { DynamoWrite } from './items.js'

/** BatchGetItem takes at most 100 keys. */
const MAX_GET = 100

/** An item as the plan knows it: its key and version attributes, or null when there is none. */
export type StoredItem = Readonly<Record<string, unknown>> | null

/**
 * @internal The BatchGetItem request for some keys: only the key attributes and the version
 * attribute (`projected`), strongly consistent, names through placeholders (reserved words).
 */
export function batchGetInput(tableName: string, keys: readonly DynamoKey[], projected: readonly string[]) {
  const names: Record<string, string> = {}
  projected.forEach((name, i) => (names[`#a${i}`] = name))
  return {
    RequestItems: {
      [tableName]: {
        Keys: keys.map((k) => toAttributeMap(k)),
        ProjectionExpression: Object.keys(names).join(', '),
        ExpressionAttributeNames: names,
        ConsistentRead: true,
      },
    },
  }
}

class UnprocessedKeysError extends Error {
  override readonly name = 'UnprocessedKeys'
  constructor(count: number) {
    super(`${count} keys came back in UnprocessedKeys`)
  }
}

type Send = (command: unknown) => Promise<Record<string, unknown>>

/**
 * @internal Reads the stored key and version attributes of `keys` (distinct), retrying
 * UnprocessedKeys, throttling and dropped connections under `retry`. Resolves with the items found,
 * by the {@link keyStringOf} of their key values in `keyOrder`. Throws a configuration error (missing
 * table, access) as one; ERR_RETRIES_EXHAUSTED when keys stay unprocessed or a passing error outlasts
 * the attempts; any other error as DynamoDB gave it.
 */
export async function readStored(
  send: Send,
  sdk: Awaited<ReturnType<typeof loadSdk>>,
  tableName: string,
  keys: readonly DynamoKey[],
  keyOrder: readonly string[],
  projected: readonly string[],
  retry: Required<RetryPolicy>,
  retried: (reason: string) => void,
): Promise<Map<string, Record<string, unknown>>> {
  const found = new Map<string, Record<string, unknown>>()
  let pending: Record<string, AttributeValue>[] = []
  const chunks: DynamoKey[][] = []
  for (let i = 0; i < keys.length; i += MAX_GET) chunks.push(keys.slice(i, i + MAX_GET))
  try {
    for (const chunk of chunks) {
      let input = batchGetInput(tableName, chunk, projected)
      pending = input.RequestItems[tableName]!.Keys
      await withRetry(
        async () => {
          const out = (await send(new sdk.client.BatchGetItemCommand(input as never))) as {
            Responses?: Record<string, Record<string, AttributeValue>[]>
            UnprocessedKeys?: Record<string, { Keys?: Record<string, AttributeValue>[] }>
          }
          for (const item of out.Responses?.[tableName] ?? []) {
            const plain = fromAttributeMap(item)
            found.set(keyStringOf(keyOrder.map((k) => plain[k])), plain)
          }
          const left = out.UnprocessedKeys?.[tableName]?.Keys ?? []
          if (left.length > 0) {
            pending = left
            input = { RequestItems: { [tableName]: { ...input.RequestItems[tableName]!, Keys: left } } }
            throw new UnprocessedKeysError(left.length)
          }
        },
        retry,
        { isRetryable: (e) => e instanceof UnprocessedKeysError || isRetryableAwsError(e), onRetry: (reason) => retried(reason) },
      )
    }
  } catch (error) {
    const config = awsConfigError(error, `DynamoDB table \`${tableName}\``)
    if (config) throw config
    if (error instanceof UnprocessedKeysError || isRetryableAwsError(error)) {
      throw new HydratorError(
        'ERR_RETRIES_EXHAUSTED',
        `reading the stored versions of ${pending.length} item(s) of \`${tableName}\` for the plan: ${awsErrorName(error) ?? 'Error'}: ${errorMessage(error)} (gave up after ${(error as { attempts?: number }).attempts ?? retry.attempts} attempts)`,
        { cause: error },
      )
    }
    throw error
  }
  return found
}

/**
 * @internal What the write of `w` (already past the batch's collapsing) does to the `stored` item:
 * the same decision as DynamoDB's for the sink's requests. Unversioned: a put inserts or updates, a
 * delete deletes or finds nothing (`deleteOfMissing`). Versioned, the condition
 * `attribute_not_exists(pk) OR version < :v` holds for a missing item or a stored version that is
 * a number below the event's; otherwise the write is `stale`.
 */
export function planWrite(w: DynamoWrite, stored: StoredItem, versionColumn: string | undefined): PlannedWrite {
  const key = w.key
  const current = stored ?? undefined
  if (stored !== null && versionColumn !== undefined && w.version !== undefined) {
    const v = stored[versionColumn]
    const lower = (typeof v === 'number' || typeof v === 'bigint') && Number(v) < w.version
    if (!lower) return { op: 'skip', reason: 'stale', key, current, ...(w.op === 'put' ? { next: w.item } : {}) }
  }
  if (w.op === 'delete') return stored === null ? { op: 'skip', reason: 'deleteOfMissing', key } : { op: 'delete', key, current }
  return stored === null ? { op: 'insert', key, next: w.item } : { op: 'update', key, current, next: w.item }
}

/** @internal What the plan remembers of an item after a planned write: its key and version, or null once deleted. */
export function storedAfter(w: DynamoWrite, versionColumn: string | undefined): StoredItem {
  if (w.op === 'delete') return null
  return versionColumn !== undefined && w.version !== undefined ? { ...w.key, [versionColumn]: w.version } : { ...w.key }
}
