import { HydratorError } from '../errors.js'
import { indexOf, keyNames, type DynamoKey } from './client.js'
import { cursorOfPosition, validateCursor, type DynamoCursor } from './cursor.js'
import { assertAttributeValues, validateReadOptions, type DynamoReadOptions } from './read-options.js'
import { readDynamo, type DynamoSource, type TableInfo } from './scan.js'

/** A key value as DynamoDB keys hold it. */
export type DynamoKeyValue = string | number | Uint8Array

/** A condition on the sort key of a Query, besides the partition key. */
export type SortKeyCondition = {
  /** The sort key attribute. @default the sort key of the index or table (DescribeTable) */
  readonly name?: string
} & (
  | { readonly equals: DynamoKeyValue }
  | { readonly lessThan: DynamoKeyValue }
  | { readonly lessOrEqual: DynamoKeyValue }
  | { readonly greaterThan: DynamoKeyValue }
  | { readonly greaterOrEqual: DynamoKeyValue }
  | { readonly between: readonly [DynamoKeyValue, DynamoKeyValue] }
  | { readonly beginsWith: string }
)

/**
 * Which items a Query reads: one partition key value (with an optional sort-key condition), or a
 * KeyConditionExpression of your own with its placeholders.
 */
export type KeyCondition =
  | {
      /** The partition key attribute. @default the partition key of the index or table (DescribeTable) */
      readonly name?: string
      readonly value: DynamoKeyValue
      readonly sort?: SortKeyCondition
    }
  | {
      readonly expression: string
      readonly names?: Readonly<Record<string, string>>
      readonly values: Readonly<Record<string, unknown>>
    }

/** Options of {@link queryDynamo}. */
export interface QueryDynamoOptions extends DynamoReadOptions {
  /** The partition to read (on `indexName` when given). */
  readonly keyCondition: KeyCondition
  /** Ascending sort-key order; false reads it backwards. @default true */
  readonly scanIndexForward?: boolean
  /** Go on from a cursor (`source.cursor()` of an earlier run; a Query is segment 0). */
  readonly resume?: DynamoCursor
  /** Go on after this key (an ExclusiveStartKey, e.g. a LastEvaluatedKey). */
  readonly startKey?: DynamoKey
}

/**
 * Reads one partition of a table or of a secondary index with paginated Query requests, in sort-key
 * order (descending with `scanIndexForward: false`), as plain JS objects with positions
 * `{ source, key, part? }`. The next page is fetched while the current one is handed out (one page
 * buffered). A string partition or sort value is turned into a number when the key attribute is a
 * number (as CLI values are strings). Failures and retries as in `scanDynamo`.
 *
 * @example
 * for await (const event of queryDynamo({ client, tableName: 'events', indexName: 'byStream', keyCondition: { value: 'order-42' } }))
 *   console.log(event)
 */
export function queryDynamo<T = Record<string, unknown>>(options: QueryDynamoOptions): DynamoSource<T> {
  const common = validateReadOptions(options, 'queryDynamo')
  const condition = validateKeyCondition(options.keyCondition)
  if (options.scanIndexForward !== undefined && typeof options.scanIndexForward !== 'boolean') {
    throw new HydratorError('ERR_INVALID_OPTION', `expected \`scanIndexForward\` to be a boolean, got \`${String(options.scanIndexForward)}\``)
  }
  if ([options.resume, options.startKey, options.resumeFrom].filter((o) => o !== undefined).length > 1) {
    throw new HydratorError('ERR_INVALID_OPTION', 'give one of `resume`, `startKey` and `resumeFrom`, not several')
  }
  if (options.startKey !== undefined && (options.startKey === null || typeof options.startKey !== 'object')) {
    throw new HydratorError('ERR_INVALID_OPTION', `expected \`startKey\` to be a key object, got \`${String(options.startKey)}\``)
  }
  const resume = validateCursor(options.startKey !== undefined ? { 0: options.startKey } : (options.resume ?? cursorOfPosition(options.resumeFrom)), [0])

  let built: Record<string, unknown> | undefined
  const needsDescribe = 'value' in condition && (condition.name === undefined || (condition.sort !== undefined && condition.sort.name === undefined))
  return readDynamo<T>(
    common,
    [0],
    resume,
    () => ({ command: 'Query', input: built! }),
    (table) => {
      built = {
        ...buildKeyCondition(condition, table, options.indexName),
        ...(options.scanIndexForward === false ? { ScanIndexForward: false } : {}),
      }
    },
    needsDescribe,
  )
}

function validateKeyCondition(condition: KeyCondition): KeyCondition {
  if (!condition || typeof condition !== 'object') {
    throw new HydratorError('ERR_INVALID_OPTION', `expected \`keyCondition\` to be { name?, value, sort? } or { expression, values }, got \`${String(condition)}\``)
  }
  if ('expression' in condition) {
    if (typeof condition.expression !== 'string' || condition.expression.trim() === '') {
      throw new HydratorError('ERR_INVALID_OPTION', `expected \`keyCondition.expression\` to be a KeyConditionExpression, got \`${String(condition.expression)}\``)
    }
    if (!condition.values || typeof condition.values !== 'object') {
      throw new HydratorError('ERR_INVALID_OPTION', '`keyCondition.expression` needs `values` for its :placeholders')
    }
    assertAttributeValues('keyCondition.values', condition.values)
    return condition
  }
  if (!('value' in condition) || !isKeyValue(condition.value)) {
    throw new HydratorError(
      'ERR_INVALID_OPTION',
      `expected \`keyCondition.value\` to be a string, number or Uint8Array, got \`${String((condition as { value?: unknown }).value)}\``,
    )
  }
  if (condition.name !== undefined && (typeof condition.name !== 'string' || !condition.name)) {
    throw new HydratorError('ERR_INVALID_OPTION', `expected \`keyCondition.name\` to be an attribute name, got \`${String(condition.name)}\``)
  }
  if (condition.sort !== undefined) sortParts(condition.sort)
  return condition
}

function isKeyValue(v: unknown): v is DynamoKeyValue {
  return (typeof v === 'string' && v !== '') || (typeof v === 'number' && Number.isFinite(v)) || v instanceof Uint8Array
}

/** The operator and values of a sort condition, checked. */
function sortParts(sort: SortKeyCondition): { op: string; values: DynamoKeyValue[] } {
  const ops: [string, string][] = [
    ['equals', '='],
    ['lessThan', '<'],
    ['lessOrEqual', '<='],
    ['greaterThan', '>'],
    ['greaterOrEqual', '>='],
    ['between', 'BETWEEN'],
    ['beginsWith', 'begins_with'],
  ]
  const present = ops.filter(([k]) => k in sort)
  if (present.length !== 1) {
    throw new HydratorError(
      'ERR_INVALID_OPTION',
      `expected \`keyCondition.sort\` to have exactly one of ${ops.map(([k]) => k).join(', ')}, got \`${JSON.stringify(Object.keys(sort))}\``,
    )
  }
  const [field, op] = present[0]!
  const raw = (sort as Record<string, unknown>)[field]
  const values = op === 'BETWEEN' ? (Array.isArray(raw) && raw.length === 2 ? raw : undefined) : [raw]
  if (!values || !values.every(isKeyValue)) {
    throw new HydratorError('ERR_INVALID_OPTION', `expected \`keyCondition.sort.${field}\` to be ${op === 'BETWEEN' ? 'two key values' : 'a key value'}, got \`${JSON.stringify(raw)}\``)
  }
  return { op, values: values as DynamoKeyValue[] }
}

/**
 * Parses a CLI sort-key condition: `= v`, `< v`, `<= v`, `> v`, `>= v`, `between a and b`,
 * `begins_with v`. Values stay strings (turned into numbers later for a number key).
 *
 * @example
 * parseSortKeyCondition('between 2024-01 and 2024-06') // { between: ['2024-01', '2024-06'] }
 */
export function parseSortKeyCondition(text: string): SortKeyCondition {
  const t = text.trim()
  let m = /^between\s+(.+?)\s+and\s+(.+)$/i.exec(t)
  if (m) return { between: [m[1]!, m[2]!] }
  m = /^begins_with\s*[\s(]\s*(.+?)\s*\)?$/i.exec(t)
  if (m) return { beginsWith: m[1]! }
  m = /^(<=|>=|=|<|>)\s*(.+)$/.exec(t)
  if (m) {
    const value = m[2]!.trim()
    switch (m[1]) {
      case '=':
        return { equals: value }
      case '<':
        return { lessThan: value }
      case '<=':
        return { lessOrEqual: value }
      case '>':
        return { greaterThan: value }
      default:
        return { greaterOrEqual: value }
    }
  }
  throw new HydratorError(
    'ERR_INVALID_URI',
    `cannot read sort key condition \`${text}\`: use \`= v\`, \`< v\`, \`<= v\`, \`> v\`, \`>= v\`, \`between a and b\` or \`begins_with v\``,
  )
}

function buildKeyCondition(condition: KeyCondition, table: TableInfo, indexName: string | undefined): Record<string, unknown> {
  if ('expression' in condition) {
    return {
      KeyConditionExpression: condition.expression,
      ...(condition.names ? { ExpressionAttributeNames: { ...condition.names } } : {}),
      ExpressionAttributeValues: { ...condition.values },
    }
  }
  const description = table.description
  const schema = description ? (indexName ? indexOf(description, indexName)?.KeySchema : description.KeySchema) : undefined
  const [hash, range] = keyNames(schema)
  const types = new Map((description?.AttributeDefinitions ?? []).map((d) => [d.AttributeName, d.AttributeType]))
  const pkName = condition.name ?? hash
  if (!pkName) throw new HydratorError('ERR_INVALID_OPTION', 'cannot tell the partition key attribute: give `keyCondition.name`')
  const names: Record<string, string> = { '#qpk': pkName }
  const values: Record<string, unknown> = { ':qpk': coerce(condition.value, types.get(pkName), pkName) }
  let expression = '#qpk = :qpk'
  if (condition.sort) {
    const skName = condition.sort.name ?? range
    if (!skName) {
      throw new HydratorError('ERR_INVALID_OPTION', `${indexName ? `index \`${indexName}\`` : 'the table'} has no sort key to put a condition on`)
    }
    names['#qsk'] = skName
    const { op, values: vs } = sortParts(condition.sort)
    const type = types.get(skName)
    if (op === 'BETWEEN') {
      values[':qsk0'] = coerce(vs[0]!, type, skName)
      values[':qsk1'] = coerce(vs[1]!, type, skName)
      expression += ' AND #qsk BETWEEN :qsk0 AND :qsk1'
    } else if (op === 'begins_with') {
      values[':qsk0'] = vs[0]
      expression += ' AND begins_with(#qsk, :qsk0)'
    } else {
      values[':qsk0'] = coerce(vs[0]!, type, skName)
      expression += ` AND #qsk ${op} :qsk0`
    }
  }
  return { KeyConditionExpression: expression, ExpressionAttributeNames: names, ExpressionAttributeValues: values }
}

function coerce(value: DynamoKeyValue, type: string | undefined, name: string): DynamoKeyValue {
  if (type === 'N' && typeof value === 'string') {
    const n = Number(value)
    if (value.trim() === '' || !Number.isFinite(n)) {
      throw new HydratorError('ERR_INVALID_OPTION', `key attribute \`${name}\` is a number, got \`${value}\``)
    }
    return n
  }
  if (type === 'S' && typeof value === 'number') return String(value)
  return value
}
