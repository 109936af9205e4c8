import { GetCommand, ScanCommand } from '@aws-sdk/lib-dynamodb'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { cli } from '../../cli/app.js'
import { createHydrationHandler, type HydrationResult } from '../../lib/aws-lambda/index.js'
import type { RunReport } from '../../lib/report/schema.js'
import { reportProblems } from '../../lib/report/validate.js'
import { captured, readableOf } from '../helpers.js'
import { createTable, dynamoEnv, startDynamoTestbed, type DynamoTestbed } from '../servers/dynalite.js'
import { startS3TestServer } from '../servers/s3.js'
import { digest, lambdaContext, seed, spawnTsx, storeEvent } from './testbed.js'

const test = suite('the Lambda handler: a time budget, checkpoints in a store, resumed until done')

const EVENTS = 12_000
const AGGREGATES = 700
let bed: DynamoTestbed
let env: Record<string, string | undefined>

test.before(async () => {
  bed = await startDynamoTestbed()
  await createTable(bed.raw, 'events', { partition: ['aggregate', 'S'], sort: ['seq', 'N'] })
  for (const t of ['users', 'users_clean', 'untouched']) await createTable(bed.raw, t, { partition: ['id', 'S'] })
  await createTable(bed.raw, 'ckpt', { partition: ['runId', 'S'] })
  await seed(bed.doc, 'events', Array.from({ length: EVENTS }, (_, i) => storeEvent(i, AGGREGATES)))
  env = dynamoEnv(bed.server.endpoint)
})

test.after(async () => {
  await bed.close()
})

const mapping = { column: ['id=aggregate', 'version=seq', 'last=detail.v'], key: 'id', versionColumn: 'version' }
const options = (target: string, checkpoint: string) => ({ source: 'dynamo:events', sink: `dynamo:${target}`, ...mapping, checkpoint, checkpointInterval: 100, env })

async function errorOf(promise: Promise<unknown>): Promise<Error & { code?: string }> {
  return promise.then(
    () => assert.unreachable('expected an error') as never,
    (e: Error & { code?: string }) => e,
  )
}

test('invocations with a running-down clock, one of them killed mid-way, give exactly the table one clean run gives', async () => {
  const stderr = captured()
  const code = await cli(
    ['--source', 'dynamo:events', '--sink', 'dynamo:users_clean', '--column', 'id=aggregate', '--column', 'version=seq', '--column', 'last=detail.v', '--key', 'id', '--version-column', 'version', '--quiet'],
    { stdout: captured(), stderr, stdin: readableOf(''), env, cwd: process.cwd() },
  )
  assert.is(code, 0, stderr.text())

  // The first invocation runs in a process of its own, killed once its checkpoint shows progress.
  const child = spawnTsx('test/aws-lambda/invoke-child.ts', [JSON.stringify({ options: { ...options('users', 'dynamo:ckpt/lambda-1'), rate: 4000, safetyMarginMs: 1000 }, input: {}, remainingMs: 120_000 })], env)
  const progress = async () => {
    const item = await bed.doc.send(new GetCommand({ TableName: 'ckpt', Key: { runId: 'lambda-1' } }))
    return item.Item ? ((JSON.parse(item.Item.checkpoint as string).totals?.read as number | undefined) ?? 0) : 0
  }
  const started = Date.now()
  while ((await progress()) < 1000) {
    if (Date.now() - started > 60_000) assert.unreachable(`the child made no progress: ${(await Promise.race([child.exited, Promise.resolve(undefined)]))?.stderr}`)
    await new Promise((r) => setTimeout(r, 20))
  }
  child.child.kill('SIGKILL')
  assert.is((await child.exited).code, -1, 'killed')
  const afterKill = await progress()
  assert.ok(afterKill < EVENTS, 'it was killed mid-way')

  // Then the loop a state machine runs: invoke until done, passing the report back in.
  const handler = createHydrationHandler({ ...options('users', 'dynamo:ckpt/lambda-1'), safetyMarginMs: 700 })
  let result: HydrationResult | undefined
  let invocations = 0
  do {
    result = (await handler({ action: 'run', report: result?.report ?? null }, lambdaContext(1500))) as HydrationResult
    invocations++
    assert.is(result.checkpoint, 'dynamo:ckpt/lambda-1')
    assert.ok(result.report.status !== 'failed', JSON.stringify(result.report.error))
    assert.ok(invocations < 200, 'it ends')
  } while (!result.done)
  assert.ok(invocations >= 2, `more than one invocation: ${invocations}`)
  assert.is(result.message, 'done')
  assert.is(await digest(bed.doc, 'users'), await digest(bed.doc, 'users_clean'), 'the same table as one clean run')
  // The share's report covers every invocation after the kill: what the killed one had not
  // checkpointed is read again, so together they read at least the rest of the table.
  const report = result.report
  assert.equal(reportProblems(report), [])
  assert.ok(report.source.read >= EVENTS - afterKill, `read ${report.source.read}`)
  assert.is(report.source.read, report.filter.matched + report.filter.unmatched)
  assert.is(report.filter.matched, report.sink.written + report.sink.skipped + report.sink.failed)
  assert.is(report.checkpoint?.totals.read, EVENTS, 'the checkpoint counts every event once')

  const again = (await handler({ report }, lambdaContext(1500))) as HydrationResult
  assert.is(again.done, true)
  assert.is(again.message, 'already done: nothing to do')
  assert.is(again.report.source.read, report.source.read, 'nothing more was read')
})

test('plan and merge: the shares of the table, each run by the handler, merged into one report', async () => {
  const handler = createHydrationHandler((input) => ({ ...options('users', `dynamo:ckpt/shared-${String(input.shares ?? 3)}`), safetyMarginMs: 700 }))
  const { shares } = (await handler({ action: 'plan', shares: 3 }, lambdaContext(5000))) as { shares: { index: number }[] }
  assert.is(shares.length, 3)
  const reports: RunReport[] = []
  for (const share of shares) {
    let result: HydrationResult | undefined
    do result = (await handler({ share: share as never, report: result?.report ?? null }, lambdaContext(3000))) as HydrationResult
    while (!result.done)
    assert.equal(result.share, share)
    reports.push(result.report)
  }
  const { report } = (await handler({ action: 'merge', reports: [...reports, null], shares: 3 }, lambdaContext(5000))) as { report: RunReport }
  assert.is(report.source.read, EVENTS)
  assert.equal(report.shares, { count: 3, done: 3, partial: 0, failed: 0, notRun: 0, plan: reports[0]!.share!.plan })
  assert.equal(reportProblems(report), [])
})

test('bad input: a remaining time under the margin, a share of another plan, an unreachable or denied store: clear errors, nothing written', async () => {
  const handler = createHydrationHandler(options('untouched', 'dynamo:ckpt/refused'))
  const budget = await errorOf(handler({}, lambdaContext(30_000)))
  assert.is(budget.name, 'ERR_TIME_BUDGET', 'Lambda reports the code as errorType')
  assert.match(budget.message, /only \d+ ms are left of this invocation, not more than the safety margin of 60000 ms: nothing was read or written/)

  const otherPlan = createHydrationHandler({ ...options('untouched', 'dynamo:ckpt/refused'), source: 'dynamo:users_clean', safetyMarginMs: 100 })
  const { shares } = (await createHydrationHandler(options('untouched', 'x'))({ action: 'plan', shares: 2 }, lambdaContext(5000))) as { shares: unknown[] }
  const mismatch = await errorOf(otherPlan({ share: shares[0] as never }, lambdaContext(5000)))
  assert.is(mismatch.name, 'ERR_SHARE_MISMATCH')

  const unreachable = createHydrationHandler({ ...options('untouched', 'dynamo:ckpt/down?endpoint=http://127.0.0.1:9'), retryAttempts: 1, safetyMarginMs: 100 })
  const down = await errorOf(unreachable({}, lambdaContext(5000)))
  assert.is(down.name, 'ERR_CONNECTION')
  assert.match(down.message, /checkpoint dynamo:ckpt\/down/)

  const s3 = await startS3TestServer()
  try {
    await s3.createBucket('locked')
    s3.denyBucket('locked')
    const denied = createHydrationHandler({ ...options('untouched', `s3://locked/run-1.json?endpoint=${encodeURIComponent(s3.endpoint)}`), safetyMarginMs: 100 })
    const auth = await errorOf(denied({}, lambdaContext(5000)))
    assert.is(auth.name, 'ERR_AUTH')
    assert.match(auth.message, /s3:\/\/locked\/run-1\.json/)
    assert.match(auth.message, /s3:GetObject/)
  } finally {
    await s3.close()
  }

  const fileInLambda = createHydrationHandler({ ...options('untouched', 'run.ckpt'), env: { ...env, AWS_LAMBDA_FUNCTION_NAME: 'f' }, safetyMarginMs: 100 })
  assert.is((await errorOf(fileInLambda({}, lambdaContext(5000)))).name, 'ERR_USAGE')
  const noCheckpoint = createHydrationHandler({ source: 'dynamo:events', sink: 'dynamo:untouched', env, safetyMarginMs: 100 })
  assert.is((await errorOf(noCheckpoint({}, lambdaContext(5000)))).name, 'ERR_USAGE')

  const untouched = await bed.doc.send(new ScanCommand({ TableName: 'untouched' }))
  assert.is(untouched.Count, 0, 'nothing was written')
  const refused = await bed.doc.send(new GetCommand({ TableName: 'ckpt', Key: { runId: 'refused' } }))
  assert.is(refused.Item, undefined, 'no checkpoint was even started')
})

test('two workers on one share at once: the second is refused with the lease error, nothing written twice', async () => {
  await createTable(bed.raw, 'users_two', { partition: ['id', 'S'] })
  const handler = createHydrationHandler({ ...options('users_two', 'dynamo:ckpt/two'), safetyMarginMs: 500, rate: 20_000 })
  const first = handler({}, lambdaContext(60_000)) as Promise<HydrationResult>
  // The first has taken the lease once its record exists.
  while (!(await bed.doc.send(new GetCommand({ TableName: 'ckpt', Key: { runId: 'two' } }))).Item) await new Promise((r) => setTimeout(r, 10))
  const second = await errorOf(handler({}, lambdaContext(60_000)))
  assert.is(second.name, 'ERR_CHECKPOINT_LOCKED')
  assert.match(second.message, /in use by process \d+ on .* until \d{4}-/)
  const result = await first
  assert.is(result.done, true)
  assert.is(result.report.sink.written + result.report.sink.skipped, EVENTS)
  assert.is(result.report.sink.skippedBy.stale ?? 0, 0, 'no event applied twice (a repeat would be skipped as stale)')
  assert.is(await digest(bed.doc, 'users_two'), await digest(bed.doc, 'users_clean'))
})

test.run()
