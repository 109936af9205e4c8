import { HydratorError } from '../errors.js'
import { toDynamo } from './sink.js'
import { parseSortKeyCondition, queryDynamo } from './query.js'
import { parsePageRange, queryPages } from './pages.js'
import { scanDynamo, type SegmentChoice } from './scan.js'
import type { DynamoClient } from './client.js'
import type { DynamoReadOptions } from './read-options.js'
import { awsClientConfig, awsRequestHandlerOf } from '../util/aws.js'
import { dynamoNameProblem, quoted } from './names.js'
import { redactUri } from '../util/options.js'
import type { FactoryContext, ParsedUri, Plugin } from '../registry.js'
import { boolParam, checkParams, decodeUriPart, intParam } from '../uri.js'
import type { RebuildOptions } from '../rebuild.js'

const SOURCE_PARAMS = [
  'region',
  'endpoint',
  'profile',
  'table',
  'index',
  'partition',
  'partitionKey',
  'sortKey',
  'order',
  'segment',
  'totalSegments',
  'parallelism',
  'consistent',
  'pageSize',
  'projection',
  'filter',
  'filterNames',
  'filterValues',
  'unwrap',
  'keep',
  'pages',
  'pageKey',
  'timeoutMs',
]
const SINK_PARAMS = ['region', 'endpoint', 'profile', 'table', 'timeoutMs']

function tableOf(uri: ParsedUri, context: FactoryContext): string {
  const name = uri.params.get('table') || decodeUriPart(uri, uri.path.replace(/^\/+/, ''), 'the table name') || context.table
  if (!name) {
    throw new HydratorError('ERR_INVALID_URI', `\`${uri.uri}\` names no table: use e.g. \`dynamo:events\` or \`dynamo:?table=events\``)
  }
  return name
}

/**
 * A table or index name DynamoDB would refuse fails here, before any client is made (DynamoDB
 * would answer it with a ValidationException). The endpoint is checked first: its message is the
 * one that hides secrets a URI may hold.
 */
function checkNames(uri: ParsedUri, context: FactoryContext, names: { table: string; index?: string | undefined }): void {
  awsClientConfig(uri, context.env, 'dynamodb')
  for (const [kind, name] of [['table', names.table], ['index', names.index]] as const) {
    const problem = name === undefined ? undefined : dynamoNameProblem(name, kind)
    if (problem) throw new HydratorError('ERR_INVALID_URI', `${problem}, in ${quoted(redactUri(uri.uri))}`)
  }
}

function jsonObjectParam(uri: ParsedUri, name: string): Record<string, unknown> | undefined {
  const raw = uri.params.get(name)
  if (raw === null) return undefined
  let value: unknown
  try {
    value = JSON.parse(raw)
  } catch {
    value = undefined
  }
  if (!value || typeof value !== 'object' || Array.isArray(value)) {
    throw new HydratorError('ERR_INVALID_URI', `expected \`${name}\` in \`${uri.uri}\` to be a JSON object, e.g. {":t":"OrderPlaced"}, got \`${raw}\``)
  }
  return value as Record<string, unknown>
}

function listParam(uri: ParsedUri, name: string): string[] | undefined {
  const raw = uri.params.get(name)
  if (raw === null) return undefined
  const list = raw.split(',').map((s) => s.trim()).filter(Boolean)
  return list.length > 0 ? list : undefined
}

async function makeClient(uri: ParsedUri, context: FactoryContext): Promise<DynamoClient> {
  const config = awsClientConfig(uri, context.env, 'dynamodb')
  let sdk: [typeof import('@aws-sdk/client-dynamodb'), typeof import('@aws-sdk/lib-dynamodb')]
  try {
    sdk = await Promise.all([import('@aws-sdk/client-dynamodb'), import('@aws-sdk/lib-dynamodb')])
  } catch (error) {
    throw new HydratorError(
      'ERR_PLUGIN',
      'the dynamo: scheme needs @aws-sdk/client-dynamodb and @aws-sdk/lib-dynamodb: npm install @aws-sdk/client-dynamodb @aws-sdk/lib-dynamodb',
      { cause: error },
    )
  }
  // event-hydrator retries itself (and counts it in the report), so the SDK makes one attempt; a
  // request that hangs times out and is retried like a dropped connection.
  const raw = new sdk[0].DynamoDBClient({
    ...config,
    maxAttempts: 1,
    requestHandler: awsRequestHandlerOf(uri, 'dynamodb'),
  })
  context.onClose(() => raw.destroy())
  return sdk[1].DynamoDBDocumentClient.from(raw)
}

function maxFailures(context: FactoryContext): number | undefined {
  const v = context.flags.maxFailures
  return typeof v === 'number' && Number.isFinite(v) ? v : undefined
}

/**
 * `dynamo:<table>?...` as a source: a Query with `partition=` (on `index=` when given), else a Scan.
 * Parameters are checked before any client is made.
 */
async function dynamoSource(uri: ParsedUri, context: FactoryContext) {
  checkParams(uri, SOURCE_PARAMS)
  const tableName = tableOf(uri, context)
  const indexName = uri.params.get('index') || undefined
  checkNames(uri, context, { table: tableName, index: indexName })
  const partition = uri.params.get('partition')
  const order = uri.params.get('order')
  if (order !== null && order !== 'asc' && order !== 'desc') {
    throw new HydratorError('ERR_INVALID_URI', `expected \`order\` in \`${uri.uri}\` to be asc or desc, got \`${order}\``)
  }
  const unwrapField = uri.params.get('unwrap')
  const keep = listParam(uri, 'keep')
  if (keep && !unwrapField) throw new HydratorError('ERR_INVALID_URI', `\`keep\` in \`${uri.uri}\` goes with \`unwrap=<field>\``)
  const pageSize = intParam(uri, 'pageSize', 1)
  const consistent = boolParam(uri, 'consistent')
  const projection = listParam(uri, 'projection')
  const filter = uri.params.get('filter') || undefined
  const filterNames = jsonObjectParam(uri, 'filterNames') as Record<string, string> | undefined
  const filterValues = jsonObjectParam(uri, 'filterValues')
  if ((filterNames || filterValues) && !filter) {
    throw new HydratorError('ERR_INVALID_URI', `\`filterNames\` and \`filterValues\` go with \`filter=<expression>\` in \`${uri.uri}\``)
  }
  const partitionKey = uri.params.get('partitionKey') || undefined
  const sortKey = uri.params.get('sortKey') || undefined
  const segment = intParam(uri, 'segment', 0)
  const totalSegments = intParam(uri, 'totalSegments', 1)
  const parallelism = intParam(uri, 'parallelism', 1)

  const common = (client: DynamoClient): DynamoReadOptions => ({
    client,
    tableName,
    // the report's: an ?endpoint= may hold credentials
    uri: redactUri(uri.uri),
    ...(indexName ? { indexName } : {}),
    ...(pageSize !== undefined ? { pageSize } : {}),
    ...(consistent !== undefined ? { consistentRead: consistent } : {}),
    ...(projection ? { projection } : {}),
    ...(filter ? { filterExpression: filter } : {}),
    ...(filterNames ? { expressionAttributeNames: filterNames } : {}),
    ...(filterValues ? { expressionAttributeValues: filterValues } : {}),
    ...(unwrapField ? { unwrap: { field: unwrapField, ...(keep ? { keep } : {}) } } : {}),
    ...(context.retry ? { retry: context.retry } : {}),
    ...(maxFailures(context) !== undefined ? { maxFailures: maxFailures(context)! } : {}),
    ...(context.resume ? { resumeFrom: context.resume } : {}),
  })

  const pages = uri.params.get('pages')
  if (pages !== null) {
    for (const p of ['partition', 'segment', 'totalSegments', 'parallelism', 'sortKey', 'order']) {
      if (uri.params.has(p)) throw new HydratorError('ERR_INVALID_URI', `\`${p}\` does not go with \`pages=\` (pages are Queries of page 0, 1, 2, ... in turn) in \`${uri.uri}\``)
    }
    if (context.share) throw new HydratorError('ERR_SHARES_UNSUPPORTED', `\`${uri.uri}\` reads pages in their global order: it cannot be split into shares`)
    const range = parsePageRange(pages)
    const pageKey = uri.params.get('pageKey') || undefined
    const probe = { send: async () => ({}) } as unknown as DynamoClient
    const build = (client: DynamoClient) => queryPages({ ...common(client), pages: range, ...(pageKey ? { pageKey } : {}) })
    build(probe)
    return build(await makeClient(uri, context))
  }
  if (partition !== null) {
    if (context.share) throw new HydratorError('ERR_SHARES_UNSUPPORTED', `\`${uri.uri}\` is a Query (\`partition=\`): one partition cannot be split into shares; shares split a Scan`)
    if (partition === '') throw new HydratorError('ERR_INVALID_URI', `\`partition\` in \`${uri.uri}\` is empty`)
    for (const p of ['segment', 'totalSegments', 'parallelism']) {
      if (uri.params.has(p)) throw new HydratorError('ERR_INVALID_URI', `\`${p}\` is for scans; \`${uri.uri}\` has \`partition\`, which makes it a Query`)
    }
    const sort = sortKey ? parseSortKeyCondition(sortKey) : undefined
    // Options are checked here, before the client exists, with a stand-in client.
    const probe = { send: async () => ({}) } as unknown as DynamoClient
    const build = (client: DynamoClient) =>
      queryDynamo({
        ...common(client),
        keyCondition: { value: partition, ...(partitionKey ? { name: partitionKey } : {}), ...(sort ? { sort } : {}) },
        ...(order === 'desc' ? { scanIndexForward: false } : {}),
      })
    build(probe)
    return build(await makeClient(uri, context))
  }
  if (partitionKey || sortKey || order) {
    throw new HydratorError('ERR_INVALID_URI', `\`partitionKey\`, \`sortKey\` and \`order\` go with \`partition=<value>\` (a Query) in \`${uri.uri}\``)
  }
  if ((segment === undefined) !== (totalSegments === undefined)) {
    throw new HydratorError('ERR_INVALID_URI', `\`segment\` and \`totalSegments\` go together in \`${uri.uri}\``)
  }
  let segments: SegmentChoice = segment !== undefined ? { segment, totalSegments: totalSegments! } : {}
  if (context.share) {
    if (segment !== undefined) throw new HydratorError('ERR_INVALID_URI', `\`segment\` in \`${uri.uri}\` and --share both choose segments: use one of them`)
    const part = context.share.part as { segment?: unknown; totalSegments?: unknown }
    if (!Number.isInteger(part.segment) || !Number.isInteger(part.totalSegments)) {
      throw new HydratorError('ERR_SHARE_MISMATCH', `--share: not a share of a DynamoDB scan (expected { segment, totalSegments } in its part)`)
    }
    segments = { segment: part.segment as number, totalSegments: part.totalSegments as number }
  }
  const probe = { send: async () => ({}) } as unknown as DynamoClient
  const build = (client: DynamoClient) =>
    scanDynamo({ ...common(client), ...segments, ...(parallelism !== undefined ? { parallelism } : {}) })
  build(probe)
  return build(await makeClient(uri, context))
}

async function dynamoSink(uri: ParsedUri, context: FactoryContext) {
  checkParams(uri, SINK_PARAMS)
  const tableName = tableOf(uri, context)
  checkNames(uri, context, { table: tableName })
  // Without --column/--key, each event is the item, its key attributes taken from it.
  const options = {
    tableName,
    ...(context.mapping ? { mapping: context.mapping } : {}),
    // the report's: an ?endpoint= may hold credentials
    uri: redactUri(uri.uri),
    ...(context.batchSize !== undefined ? { batchSize: context.batchSize } : {}),
    ...(context.concurrency !== undefined ? { concurrency: context.concurrency } : {}),
    ...(context.retry ? { retry: context.retry } : {}),
    ...(context.flags.rebuild ? { rebuild: context.flags.rebuild as RebuildOptions | boolean } : {}),
  }
  toDynamo({ ...options, client: { send: async () => ({}) } as unknown as DynamoClient })
  return toDynamo({ ...options, client: await makeClient(uri, context) })
}

/**
 * A scan split `count` ways: segment i of `count` (DynamoDB hashes each partition key into one
 * segment, so every item of a partition key, an aggregate's events, is in one share).
 */
async function dynamoShares(uri: ParsedUri, count: number) {
  checkParams(uri, SOURCE_PARAMS)
  for (const p of ['partition', 'pages', 'segment', 'totalSegments']) {
    if (uri.params.has(p)) throw new HydratorError('ERR_SHARES_UNSUPPORTED', `\`${redactUri(uri.uri)}\` has \`${p}\`: shares split a whole-table Scan; remove it`)
  }
  return Array.from({ length: count }, (_, segment) => ({ segment, totalSegments: count }))
}

/** `dynamo:table/run-id`: a checkpoint kept as an item of the table (see dynamoCheckpointStore). */
async function dynamoCheckpoints(uri: ParsedUri, context: FactoryContext) {
  checkParams(uri, SINK_PARAMS.filter((p) => p !== 'table'))
  const path = decodeUriPart(uri, uri.path.replace(/^\/+/, ''), 'the checkpoint') ?? ''
  const slash = path.indexOf('/')
  const tableName = slash === -1 ? path : path.slice(0, slash)
  const id = slash === -1 ? '' : path.slice(slash + 1)
  if (!tableName || !id) {
    throw new HydratorError('ERR_INVALID_URI', `\`${redactUri(uri.uri)}\`: a DynamoDB checkpoint is \`dynamo:<table>/<run-id>\`, e.g. \`dynamo:hydration-checkpoints/backfill-2026-12\``)
  }
  checkNames(uri, context, { table: tableName })
  const { dynamoCheckpointStore } = await import('./checkpoint.js')
  return dynamoCheckpointStore({
    client: await makeClient(uri, context),
    tableName,
    id,
    uri: redactUri(uri.uri),
    ...(context.retry ? { retry: context.retry } : {}),
  })
}

/**
 * The DynamoDB plugin: source and sink scheme `dynamo:` (alias `dynamodb:`). The SDK loads only
 * when a `dynamo:` URI is used. Region, credentials and endpoint come from the standard AWS
 * configuration, or `?region=`, `?endpoint=`, `?profile=`.
 *
 * @example
 * registry.register(dynamoPlugin)
 * await registry.createSource('dynamo:events?partition=order-42&index=byStream', context)
 */
export const dynamoPlugin: Plugin = {
  name: 'dynamo',
  sources: { dynamo: dynamoSource, dynamodb: dynamoSource },
  sinks: { dynamo: dynamoSink, dynamodb: dynamoSink },
  checkpoints: { dynamo: dynamoCheckpoints, dynamodb: dynamoCheckpoints },
  shares: { dynamo: dynamoShares, dynamodb: dynamoShares },
}
