// The options scanDynamo and queryDynamo share: their type, their checks, and the request
// parameters every page request of a read sends.
import { HydratorError, errorMessage } from '../errors.js'
import type { Position, SourceOptions } from '../types.js'
import { assertInteger, assertString } from '../util/options.js'
import { toAttributeValue } from './codec.js'
import { assertDynamoName } from './names.js'
import { validateRetryPolicy, type RetryPolicy } from '../retry.js'
import type { DynamoClient } from './client.js'
import type { DynamoUnwrap } from './unwrap.js'

/** Options shared by `scanDynamo` and `queryDynamo`. */
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

/** @internal The parameters every page request of a read sends: table, index, page size, projection, filter. */
export function sharedInput(options: DynamoReadOptions, pageSize: number | undefined, keyAttributes: readonly string[]): Record<string, unknown> {
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
