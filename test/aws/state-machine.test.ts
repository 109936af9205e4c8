// The AWS example, checked as it is deployed: examples/aws/state-machine.asl.json is valid Amazon
// States Language, the SAM template points at it and defines every substitution it uses, and the
// state machine runs end to end in aws-local-stepfunctions (Plan, the Distributed Map's loop of
// invocations per share, Merge) with its Lambda tasks calling the handler as the
// `arn:aws:states:::lambda:invoke` integration does.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true'
import { randomUUID } from 'node:crypto'
import { readdir, readFile } from 'node:fs/promises'
import path from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { createHydrationHandler } from '../../lib/aws-lambda/index.js'
import { tempDir } from '../helpers.js'
import { createTable, dynamoClients, startDynalite, type DynaliteServer } from '../servers/dynalite.js'
import {
  ASL,
  definition,
  EXAMPLE,
  FUNCTION_ARN,
  inProcessInvoke,
  runStateMachine,
  TEMPLATE,
  validateAsl,
  yamlKeysUnder,
  yamlListUnder,
  type Fault,
  type Handler,
  type Invocation,
  type TestContext,
} from './local-sfn.js'

/** Runs the deployed definition with every Lambda task calling `handler` in this process. */
async function execute(
  handler: Handler,
  input: Record<string, unknown>,
  options: { contextFor: () => TestContext; fault?: (payload: any, n: number) => Fault | undefined; name?: string },
) {
  const invocations: Invocation[] = []
  const invoke = inProcessInvoke(handler, { contextFor: options.contextFor, invocations, ...(options.fault ? { fault: options.fault } : {}) })
  const output = await runStateMachine(invoke, input, { ...(options.name ? { name: options.name } : {}) })
  return { output, invocations }
}

// ---------------------------------------------------------------------------------------------
// The real handler (createHydrationHandler) on local data: NDJSON files in a folder (planned into
// shares by ranges of files), one NDJSON output per share, checkpoints in DynamoDB (dynalite) with
// the lease that ends with each invocation. A small safety margin (an invocation works about 250
// ms) and a paced sink (100 events a second; a share has 33 orders or more) make every share take
// several invocations.

const ORDERS = { source: ['orders'] }
const SOURCES = ['orders', 'users', 'payments']
const FILES = 6
const PER_FILE = 100

let dynalite: DynaliteServer
let clients: ReturnType<typeof dynamoClients>
let tmp: Awaited<ReturnType<typeof tempDir>>
let awsEnv: Record<string, string>
const all: { id: string; source: string }[] = []

async function setUp() {
  tmp = await tempDir('eh-aws-')
  for (let f = 0; f < FILES; f++) {
    const events = Array.from({ length: PER_FILE }, (_, i) => {
      const n = f * PER_FILE + i
      return { id: `ev-${n}`, source: SOURCES[n % 3]!, 'detail-type': 'Changed', detail: { n } }
    })
    all.push(...events)
    await tmp.file(`events/events-${f + 1}.ndjson`, events.map((e) => JSON.stringify(e)).join('\n') + '\n')
  }
  dynalite = await startDynalite()
  clients = dynamoClients(dynalite.endpoint)
  await createTable(clients.client, 'checkpoints', { partition: ['id', 'S'] })
  awsEnv = { AWS_ENDPOINT_URL_DYNAMODB: dynalite.endpoint, AWS_REGION: 'us-east-1', AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'test' }
}

async function tearDown() {
  clients.destroy()
  await dynalite.close()
  await tmp.cleanup()
}

/** The handler a user would write for this data: options from the input (its share and run id). */
function realHandler(options: { safetyMarginMs: number; rate?: string }): Handler {
  const handler = createHydrationHandler((input) => {
    const share = input.share && typeof input.share === 'object' ? input.share.index : 'none'
    return {
      source: `json:${tmp.dir}/events/`,
      filter: ORDERS,
      sink: `ndjson:${tmp.dir}/out/${String(input.runId)}/share-${share}.ndjson`,
      checkpoint: `dynamo:checkpoints/${String(input.runId)}`,
      safetyMarginMs: options.safetyMarginMs,
      ...(options.rate ? { rate: options.rate } : {}),
      env: awsEnv,
    }
  })
  return (event, context) => handler(event, context)
}

/** A Lambda context on the real clock: `budgetMs` from the start of the invocation. */
const contextOf = (budgetMs: number) => (): TestContext => {
  const deadline = Date.now() + budgetMs
  return { awsRequestId: randomUUID(), functionName: 'hydrate', invokedFunctionArn: FUNCTION_ARN, getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()) }
}

/** The lines each share wrote, by share index. */
async function outputs(runId: string): Promise<Map<number, string[]>> {
  const dir = path.join(tmp.dir, 'out', runId)
  const out = new Map<number, string[]>()
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    const text = await readFile(path.join(dir, name), 'utf8')
    out.set(Number(/share-(\d+)/.exec(name)![1]), text.split('\n').filter(Boolean))
  }
  return out
}

const idsOf = (lines: string[]) => lines.map((l) => (JSON.parse(l) as { id: string }).id)

// ---------------------------------------------------------------------------------------------

const test = suite('AWS example: the state machine and its template')
test.before(setUp)
test.after(tearDown)

test('the state machine is valid Amazon States Language, and the validator does reject a broken copy', async () => {
  const { json } = await definition()
  const result = validateAsl(json)
  assert.ok(result.isValid, result.errorsText('\n'))
  // As written, with the placeholder where the template substitutes the ARN, it is valid too.
  assert.ok(validateAsl(JSON.parse((await definition()).text)).isValid)

  const dangling = structuredClone(json)
  dangling.States.Shares.ItemProcessor.States['ShareDone?'].Default = 'NoSuchState'
  const endless = structuredClone(json)
  delete endless.States.Merge.End
  for (const [broken, problem] of [[dangling, /Missing .* target: NoSuchState/], [endless, /"Merge" MUST contain exactly one of "End", "Next"/]] as const) {
    const result = validateAsl(broken)
    assert.not.ok(result.isValid)
    assert.match(result.errorsText('\n'), problem)
  }
})

test('the map runs each share as a Standard child execution of a Distributed Map, in JSONPath', async () => {
  const { json } = await definition()
  const map = json.States.Shares
  assert.is(json.QueryLanguage, 'JSONPath')
  assert.is(map.Type, 'Map')
  assert.equal(map.ItemProcessor.ProcessorConfig, { Mode: 'DISTRIBUTED', ExecutionType: 'STANDARD' })
  assert.is(map.ItemsPath, '$.plan.shares')
  assert.match(map.Comment, /256 KB/)
  assert.match(map.Comment, /ResultWriter/)
  const retried = map.ItemProcessor.States.Run.Retry.flatMap((r: { ErrorEquals: string[] }) => r.ErrorEquals)
  for (const error of ['Lambda.ServiceException', 'Lambda.AWSLambdaException', 'Lambda.SdkClientException', 'Lambda.TooManyRequestsException', 'ERR_CHECKPOINT_LOCKED']) {
    assert.ok(retried.includes(error), `Run retries ${error}`)
  }
  assert.equal(map.ItemProcessor.States.Run.Catch.map((c: { ErrorEquals: string[] }) => c.ErrorEquals), [['States.ALL']])
})

test('the template deploys this state machine and defines every substitution it uses', async () => {
  const [{ text }, template] = await Promise.all([definition(), readFile(TEMPLATE, 'utf8')])
  const uri = /^\s+DefinitionUri:\s*(\S+)\s*$/m.exec(template)?.[1]
  assert.ok(uri, 'the template has a DefinitionUri')
  assert.is(path.resolve(EXAMPLE, uri!), ASL)
  const used = [...new Set([...text.matchAll(/\$\{([A-Za-z0-9_]+)\}/g)].map((m) => m[1]!))].sort()
  const defined = yamlKeysUnder(template, /^\s+DefinitionSubstitutions:\s*$/).sort()
  assert.equal(used, ['HydrateFunctionArn'])
  assert.equal(defined, used, 'DefinitionSubstitutions defines exactly what the ASL uses')
  assert.match(template, /^\s+Runtime: nodejs20\.x$/m)
  assert.match(template, /^\s+Timeout: 900$/m)
})

test('the template builds the function from handler.ts, and gives it every variable handler.ts reads', async () => {
  const [template, handler] = await Promise.all([readFile(TEMPLATE, 'utf8'), readFile(path.join(EXAMPLE, 'handler.ts'), 'utf8')])
  assert.equal(yamlListUnder(template, /^\s+EntryPoints:\s*$/), ['handler.ts'])
  assert.match(template, /^\s+Handler: handler\.handler$/m, 'the bundle handler.mjs, its export `handler`')
  assert.match(handler, /^export const handler = createHydrationHandler\(/m)
  assert.match(handler, /from 'event-hydrator\/aws-lambda'/)
  const destructured = /const \{([^}]*)\} = process\.env/.exec(handler)?.[1]?.split(',').map((n) => n.trim()) ?? []
  const read = [...destructured, ...[...handler.matchAll(/process\.env\.([A-Z0-9_]+)/g)].map((m) => m[1]!)].filter(Boolean)
  const given = yamlKeysUnder(template, /^\s+Variables:\s*$/)
  assert.ok(read.length >= 4, `handler.ts reads ${read.join(', ')}`)
  for (const name of read) assert.ok(given.includes(name), `the template sets ${name}`)
})

// The first run of the example data, shared by the tests that look at it from different sides.
let first: Promise<Awaited<ReturnType<typeof execute>>> | undefined
const firstRun = () => (first ??= execute(realHandler({ safetyMarginMs: 300, rate: '100/s' }), { shares: 3 }, { contextFor: contextOf(500), name: 'run-1' }))
const orders = () => all.filter((e) => e.source === 'orders')
const sharesSummary = (report: any) => {
  const { count, done, partial, failed, notRun } = report.shares
  return { count, done, partial, failed, notRun }
}

test('every share loops over several invocations until done, and every event is written exactly once', async () => {
  const { invocations } = await firstRun()
  const written = await outputs('run-1')
  assert.equal([...written.keys()].sort(), [0, 1, 2])
  const ids = [...written.values()].flatMap(idsOf)
  assert.equal([...ids].sort(), orders().map((e) => e.id).sort(), 'every order written once, nothing else')
  for (const lines of written.values()) {
    const ns = lines.map((l) => (JSON.parse(l) as { detail: { n: number } }).detail.n)
    assert.equal(ns, [...ns].sort((a, b) => a - b), 'a share writes in source order, across its invocations')
  }
  const runs = invocations.filter((i) => i.action === 'run')
  for (const share of [0, 1, 2]) {
    const mine = runs.filter((r) => r.share === share)
    assert.ok(mine.length > 1, `share ${share} took ${mine.length} invocations`)
    assert.equal(mine.map((r) => r.done), [...mine.slice(1).map(() => false), true], `share ${share} ends done, and only then`)
  }
  assert.equal(invocations[0], { action: 'plan', outcome: 'ok' })
  assert.equal(invocations.at(-1), { action: 'merge', outcome: 'ok' })
})

test('the merged report adds up: each event counted once, also across invocations stopped by the time budget', async () => {
  const { output } = await firstRun()
  const report = output.report
  const matched = orders().length
  assert.equal(
    {
      read: report.source.read,
      matched: report.filter.matched,
      unmatched: report.filter.unmatched,
      written: report.sink.written,
      sinkFailed: report.sink.failed,
      failures: report.failures.count,
    },
    { read: all.length, matched, unmatched: all.length - matched, written: matched, sinkFailed: 0, failures: 0 },
  )
  assert.equal(sharesSummary(report), { count: 3, done: 3, partial: 0, failed: 0, notRun: 0 })
  assert.is(report.status, 'ok')
})

test('an execution with a finished run id finds every share done and writes nothing again', async () => {
  await firstRun()
  const before = await outputs('run-1')
  const { output, invocations } = await execute(realHandler({ safetyMarginMs: 300 }), { shares: 3, runId: 'run-1' }, { contextFor: contextOf(5000), name: 'run-1-again' })
  assert.equal(await outputs('run-1'), before)
  const runs = invocations.filter((i) => i.action === 'run')
  assert.equal(runs.map((r) => [r.share, r.done]).sort(), [[0, true], [1, true], [2, true]], 'one invocation a share, done at once')
  assert.equal([output.report.source.read, output.report.sink.written], [0, 0])
  assert.equal(sharesSummary(output.report), { count: 3, done: 3, partial: 0, failed: 0, notRun: 0 })
})

test('with an empty input: 16 shares, and the execution name as the run id', async () => {
  const seen: any[] = []
  const handler = realHandler({ safetyMarginMs: 300 })
  const spy: Handler = async (input, context) => {
    seen.push(structuredClone(input))
    return handler(input, context)
  }
  const { output } = await execute(spy, {}, { contextFor: contextOf(5000), name: 'defaults-1' })
  assert.equal(seen[0], { action: 'plan', shares: 16 })
  const runs = seen.filter((i) => i.action === 'run')
  assert.is(new Set(runs.map((r) => r.share.index)).size, 16)
  for (const run of runs) {
    assert.is(run.runId, 'defaults-1')
    assert.equal(Object.keys(run).sort(), run.report ? ['action', 'report', 'runId', 'share'] : ['action', 'runId', 'share'])
  }
  assert.is(output.report.shares.count, 16)
  assert.is(output.report.source.read, all.length)
})

test('throttles and a leased share are retried; a share that keeps failing is merged as not run', async () => {
  const locked = new Set<number>()
  const { output, invocations } = await execute(realHandler({ safetyMarginMs: 300 }), { shares: 3 }, {
    contextFor: contextOf(5000),
    name: 'faults-1',
    fault: (payload, n) => {
      if (payload.action === 'plan' && n <= 2) return { service: 'Lambda.TooManyRequestsException' }
      if (payload.action === 'run' && payload.share.index === 1 && !locked.has(1)) return locked.add(1) && { function: 'ERR_CHECKPOINT_LOCKED' }
      if (payload.action === 'run' && payload.share.index === 2) return { function: 'ERR_AUTH' }
      return undefined
    },
  })
  assert.equal(invocations.filter((i) => i.action === 'plan').map((i) => i.outcome), ['Lambda.TooManyRequestsException', 'Lambda.TooManyRequestsException', 'ok'])
  assert.equal(invocations.filter((i) => i.share === 1).map((i) => i.outcome), ['ERR_CHECKPOINT_LOCKED', 'ok'])
  assert.equal(invocations.filter((i) => i.share === 2).map((i) => i.outcome), ['ERR_AUTH'], 'caught, not retried')
  const written = await outputs('faults-1')
  assert.equal([...written.keys()].sort(), [0, 1])
  const report = output.report
  assert.is(report.status, 'partial')
  assert.equal(sharesSummary(report), { count: 3, done: 2, partial: 0, failed: 0, notRun: 1 })
  assert.is(report.sink.written, [...written.values()].flat().length)
  assert.ok(report.source.read < all.length)
})

test.run()
