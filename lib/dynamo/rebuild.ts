// `--rebuild` for DynamoDB: a table cannot be renamed, so nothing is swapped. The run writes a new
// table `<table>__rebuild_<id>`, created like the old one (key schema, attribute definitions, billing
// mode and provisioned throughput, global and local secondary indexes with their projections,
// streams, table class), and the report names it: the service is pointed at it by whoever deploys it.
import type { CreateTableCommandInput, TableDescription } from '@aws-sdk/client-dynamodb'
import { HydratorError, errorMessage } from '../errors.js'
import { checkNameLength, rebuildName, type RebuildOptions } from '../rebuild.js'
import { withRetry, type RetryPolicy } from '../retry.js'
import type { SinkRebuild } from '../types.js'
import { awsConfigError, awsErrorName, isRetryableAwsError } from '../util/aws.js'
import { describeTable, loadSdk, sendOf, type DynamoClient } from './client.js'

/** How long to wait for a new table to become ACTIVE (or a leftover one to be gone). */
const WAIT_MS = 5 * 60_000

const throughput = (p: { ReadCapacityUnits?: number; WriteCapacityUnits?: number } | undefined) =>
  p && p.ReadCapacityUnits && p.WriteCapacityUnits ? { ReadCapacityUnits: p.ReadCapacityUnits, WriteCapacityUnits: p.WriteCapacityUnits } : undefined

/**
 * A CreateTable request for a table like `table` named `name`: what DescribeTable shows that
 * CreateTable takes. Provisioned throughput is copied for a PROVISIONED table (on-demand tables
 * report zeros, which CreateTable refuses).
 */
export function createTableLike(table: TableDescription, name: string): CreateTableCommandInput {
  const onDemand = table.BillingModeSummary?.BillingMode === 'PAY_PER_REQUEST' || !throughput(table.ProvisionedThroughput)
  const gsis = (table.GlobalSecondaryIndexes ?? []).map((g) => ({
    IndexName: g.IndexName,
    KeySchema: g.KeySchema,
    Projection: g.Projection,
    ...(!onDemand && throughput(g.ProvisionedThroughput) ? { ProvisionedThroughput: throughput(g.ProvisionedThroughput) } : {}),
  }))
  const lsis = (table.LocalSecondaryIndexes ?? []).map((l) => ({ IndexName: l.IndexName, KeySchema: l.KeySchema, Projection: l.Projection }))
  return {
    TableName: name,
    KeySchema: table.KeySchema,
    AttributeDefinitions: table.AttributeDefinitions,
    ...(onDemand ? { BillingMode: 'PAY_PER_REQUEST' } : { BillingMode: 'PROVISIONED', ProvisionedThroughput: throughput(table.ProvisionedThroughput) }),
    ...(gsis.length > 0 ? { GlobalSecondaryIndexes: gsis } : {}),
    ...(lsis.length > 0 ? { LocalSecondaryIndexes: lsis } : {}),
    ...(table.StreamSpecification?.StreamEnabled ? { StreamSpecification: table.StreamSpecification } : {}),
    ...(table.TableClassSummary?.TableClass ? { TableClass: table.TableClassSummary.TableClass } : {}),
  } as CreateTableCommandInput
}

/**
 * Checks the live table, then (not in a dry run) creates the new table like it and waits until it
 * is ACTIVE, or finds it for a resumed run. Resolves whether the new table exists.
 */
export async function openDynamoRebuild(client: DynamoClient, live: string, rebuild: RebuildOptions, dryRun: boolean, retry: RetryPolicy, signal?: AbortSignal): Promise<boolean> {
  const sdk = await loadSdk()
  const send = sendOf(client)
  const name = rebuildName(live, rebuild.id)
  checkNameLength(name, 255, 'rebuild table')
  const table = await describeTable(client, sdk, live, undefined, signal, retry)
  const existing = await describeTable(client, sdk, name, undefined, signal, retry).catch((error: unknown) => {
    if ((error as HydratorError).code === 'ERR_TARGET_NOT_FOUND') return undefined
    throw error
  })
  if (rebuild.resume) {
    if (!existing) throw new HydratorError('ERR_TARGET_NOT_FOUND', `--rebuild: the checkpoint's events were written into the table \`${name}\`, which is gone: delete the checkpoint to rebuild from the start`)
    return true
  }
  if (dryRun) return false
  // A table cannot be renamed: the copy is the result a finished rebuild told the user to point the
  // service at, so one that is there is never taken for a leftover and dropped.
  if (existing) {
    throw new HydratorError(
      'ERR_TARGET_NOT_EMPTY',
      `--rebuild: the table \`${name}\` exists: the new table of an earlier rebuild with this checkpoint location, which a service may use now, or one left by a run stopped before its first checkpoint. Delete it if it is a leftover, or use another --checkpoint location (it names the rebuild)`,
    )
  }
  const call = (command: unknown) => withRetry(() => send(command), retry, { isRetryable: isRetryableAwsError })
  try {
    await call(new sdk.client.CreateTableCommand(createTableLike(table, name)))
    await waitFor(async () => (await describeTable(client, sdk, name, undefined, signal, retry)).TableStatus === 'ACTIVE', `the table \`${name}\` to become ACTIVE`)
  } catch (error) {
    if (error instanceof HydratorError) throw error
    throw (
      awsConfigError(error, `DynamoDB table \`${name}\``) ??
      new HydratorError(awsErrorName(error) === 'ValidationException' ? 'ERR_TARGET_SCHEMA' : 'ERR_CONNECTION', `--rebuild: cannot create \`${name}\` like \`${live}\`: ${errorMessage(error)}`, { cause: error })
    )
  }
  return true
}

async function waitFor(done: () => Promise<boolean>, what: string): Promise<void> {
  const until = Date.now() + WAIT_MS
  for (let delay = 50; !(await done()); delay = Math.min(delay * 2, 5000)) {
    if (Date.now() > until) throw new HydratorError('ERR_CONNECTION', `--rebuild: gave up waiting ${WAIT_MS / 60_000} minutes for ${what}`)
    await new Promise((r) => setTimeout(r, delay))
  }
}

/** The sink's {@link SinkRebuild}: swapless, since DynamoDB cannot rename a table. */
export function dynamoRebuild(live: string, rebuild: RebuildOptions): SinkRebuild {
  const table = rebuildName(live, rebuild.id)
  return {
    live,
    table,
    swapless: true,
    swap: () => Promise.reject(new HydratorError('ERR_INVALID_OPTION', `DynamoDB cannot rename a table: point the service at \`${table}\` instead of \`${live}\``)),
  }
}
