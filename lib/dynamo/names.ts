import { HydratorError } from '../errors.js'

// DynamoDB's naming rules for tables and indexes, checked before any request: DynamoDB answers a
// bad name with a ValidationException, which is a configuration problem, not a connection one.
// Source: "Naming rules" in the DynamoDB Developer Guide
// (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/HowItWorks.NamingRulesDataTypes.html):
// table and index names are 3 to 255 characters of a-z, A-Z, 0-9, `_`, `-` and `.`. A TableName
// parameter may also be the table's ARN (DescribeTable, Scan, Query, ... API reference).

const NAME = /^[a-zA-Z0-9_.-]{3,255}$/
const TABLE_ARN = /^arn:[a-z0-9-]+:dynamodb:[a-z0-9-]+:\d{12}:table\/([^/]+)$/

/** The rule, as messages state it. */
export const DYNAMO_NAME_RULE = '3 to 255 characters of a-z, A-Z, 0-9, `_`, `-` and `.`'

/** A name (or URI) as a message quotes it: at most 64 characters, and its length when longer. */
export function quoted(name: string): string {
  return name.length > 64 ? `\`${name.slice(0, 64)}…\` (${name.length} characters)` : `\`${name}\``
}

/**
 * Why `name` cannot be a DynamoDB table (a name, or a table ARN) or index name, or undefined when
 * it can.
 *
 * @example
 * dynamoNameProblem('ab', 'table') // 'the table name `ab` is not 3 to 255 characters of ...'
 */
export function dynamoNameProblem(name: string, kind: 'table' | 'index'): string | undefined {
  if (NAME.test(name)) return undefined
  const arn = kind === 'table' ? TABLE_ARN.exec(name) : null
  if (arn) {
    if (NAME.test(arn[1]!)) return undefined
    return `the table name ${quoted(arn[1]!)} in the ARN ${quoted(name)} is not ${DYNAMO_NAME_RULE} (DynamoDB's naming rules)`
  }
  return `the ${kind} name ${quoted(name)} is not ${DYNAMO_NAME_RULE} (DynamoDB's naming rules${kind === 'table' ? '; or give the table ARN' : ''})`
}

/**
 * Throws ERR_INVALID_OPTION when `value` (the option `option`) cannot be a DynamoDB table or index
 * name, naming it and the rule.
 *
 * @example
 * assertDynamoName('tableName', 'ab', 'table') // throws: expected `tableName` to be a DynamoDB table name: ...
 */
export function assertDynamoName(option: string, value: string, kind: 'table' | 'index'): void {
  const problem = dynamoNameProblem(value, kind)
  if (problem) throw new HydratorError('ERR_INVALID_OPTION', `expected \`${option}\` to be a DynamoDB ${kind} name: ${problem}`)
}
