// The client layer shared by the sources (scan, query) and the sink: the client and key types, the
// SDK loaded on first use, a loosely typed send, and DescribeTable with its retries and error mapping.
import type { DynamoDBClient, TableDescription } from '@aws-sdk/client-dynamodb'
import type { DynamoDBDocumentClient } from '@aws-sdk/lib-dynamodb'
import { HydratorError, errorMessage } from '../errors.js'
import { awsConfigError, isRetryableAwsError } from '../util/aws.js'
import { withRetry, type RetryPolicy } from '../retry.js'

/** A DynamoDB client: a `DynamoDBDocumentClient` or a plain `DynamoDBClient` (items come out as plain JS values either way). */
export type DynamoClient = Pick<DynamoDBDocumentClient, 'send'> | Pick<DynamoDBClient, 'send'>

/** The primary key of an item (or an ExclusiveStartKey) as plain JS values: `{ pk: 'a', sk: 3 }`. */
export type DynamoKey = Readonly<Record<string, unknown>>

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

interface Stacked {
  readonly middlewareStack?: { add(middleware: unknown, options: Record<string, unknown>): void }
}

// What the SDK's logger middleware logs instead of a command's items: it walks every item against the
// service's schema to hide sensitive fields, even for its default no-op logger, and on a Scan page of
// plain AttributeValues that walk cost a third of the read (measured against lib-dynamodb's commands,
// which avoid it). Requests and answers of this size are no use in a log anyway.
const omitted = () => '(event-hydrator: items left out of the log)'
const quietLogMiddleware = (next: (args: unknown) => Promise<unknown>, context: Record<string, unknown>) => (args: unknown) => {
  context.dynamoDbDocumentClientOptions = {
    ...(context.dynamoDbDocumentClientOptions as object | undefined),
    overrideInputFilterSensitiveLog: omitted,
    overrideOutputFilterSensitiveLog: omitted,
  }
  return next(args)
}

/** @internal The client's send, typed loosely: base and document commands both go through it. */
export function sendOf(client: DynamoClient): Send {
  const c = client as unknown as { send: Send }
  return (command, options) => {
    ;(command as Stacked).middlewareStack?.add(quietLogMiddleware, { step: 'initialize', name: 'eventHydratorQuietLog', override: true })
    return c.send(command, options)
  }
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
