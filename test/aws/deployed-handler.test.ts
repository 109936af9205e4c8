// The example as it is deployed, short of AWS: examples/aws/handler.ts bundled with esbuild exactly
// as template.yaml's build properties say, run by the Lambda test server in a process of its own per
// invocation (the template's environment, a short timeout, SIGKILL when a test says), reading and
// writing DynamoDB (dynalite) through the tables the template names, and driven by the state
// machine in aws-local-stepfunctions through the Lambda Invoke API.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true'
import { LambdaClient } from '@aws-sdk/client-lambda'
import { BatchWriteCommand, ScanCommand } from '@aws-sdk/lib-dynamodb'
import { build } from 'esbuild'
import { mkdir, readFile, rm } from 'node:fs/promises'
import path from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { createTable, dynamoClients, startDynalite, type DynaliteServer } from '../servers/dynalite.js'
import { startLambdaServer, type LambdaServer } from '../servers/lambda-server.js'
import { apiInvoke, EXAMPLE, root, runStateMachine, TEMPLATE, yamlKeysUnder, yamlListUnder, type Invocation } from './local-sfn.js'

// Under the repository, so the bundle's external imports (@aws-sdk/*) resolve from its
// node_modules as they do from the Lambda runtime's.
const OUT = path.join(root, 'node_modules/.cache/event-hydrator-test-aws')
const EVENTS = 6000
const SOURCES = ['orders', 'users', 'payments']
// Each invocation may run 1.6 s and stops reading when 1.45 s are left (the handler looks every
// margin/4 ms: about 360 ms of work): a share of 2,000 events needs several.
const TIMEOUT_MS = 1600
const MARGIN_MS = 1450

let dynalite: DynaliteServer
let clients: ReturnType<typeof dynamoClients>
let lambda: LambdaServer
let client: LambdaClient
let bundle: string

/** `sam build`'s esbuild step, from the template's BuildProperties. */
async function bundleAsTheTemplateSays(): Promise<string> {
  const template = await readFile(TEMPLATE, 'utf8')
  const property = (name: string) => new RegExp(`^\\s+${name}:\\s*(\\S+)\\s*$`, 'm').exec(template)?.[1]
  const [entry] = yamlListUnder(template, /^\s+EntryPoints:\s*$/)
  const banner = yamlListUnder(template, /^\s+Banner:\s*$/).find((b) => b.startsWith('js='))?.slice(3)
  const outExtension = yamlListUnder(template, /^\s+OutExtension:\s*$/).find((o) => o.startsWith('.js='))?.slice(4)
  assert.ok(entry && banner && outExtension, 'the template has EntryPoints, a js Banner and an OutExtension for .js')
  await rm(OUT, { recursive: true, force: true })
  await mkdir(OUT, { recursive: true })
  const outfile = path.join(OUT, `${path.basename(entry!, '.ts')}${outExtension}`)
  await build({
    entryPoints: [path.join(EXAMPLE, entry!)],
    bundle: true,
    outfile,
    format: property('Format') as 'esm',
    platform: property('Platform') as 'node',
    target: property('Target')!,
    minify: property('Minify') === 'true',
    sourcemap: property('Sourcemap') === 'true',
    banner: { js: banner! },
    external: yamlListUnder(template, /^\s+External:\s*$/),
    logLevel: 'error',
  })
  return outfile
}

const test = suite('AWS example: the bundled handler under the state machine')

test.before(async () => {
  bundle = await bundleAsTheTemplateSays()
  dynalite = await startDynalite()
  clients = dynamoClients(dynalite.endpoint)
  for (const table of ['events', 'projection', 'checkpoints']) await createTable(clients.client, table, { partition: ['id', 'S'] })
  for (let i = 0; i < EVENTS; i += 25) {
    const items = Array.from({ length: Math.min(25, EVENTS - i) }, (_, k) => {
      const n = i + k
      return { id: `ev-${String(n).padStart(5, '0')}`, source: SOURCES[n % 3]!, 'detail-type': 'Changed', detail: { n } }
    })
    await clients.doc.send(new BatchWriteCommand({ RequestItems: { events: items.map((Item) => ({ PutRequest: { Item } })) } }))
  }
  const template = await readFile(TEMPLATE, 'utf8')
  const variables = yamlKeysUnder(template, /^\s+Variables:\s*$/)
  const env: Record<string, string> = {
    SOURCE_TABLE: 'events',
    TARGET_TABLE: 'projection',
    CHECKPOINT_TABLE: 'checkpoints',
    FILTER_PATTERN: JSON.stringify({ source: ['orders'] }),
    SAFETY_MARGIN_MS: String(MARGIN_MS),
  }
  assert.equal(Object.keys(env).sort(), [...variables].sort(), 'the function gets the variables the template gives it')
  lambda = await startLambdaServer({
    functions: { hydrate: { module: bundle, isolated: true, timeoutMs: TIMEOUT_MS } },
    env: {
      ...env,
      AWS_ENDPOINT_URL_DYNAMODB: dynalite.endpoint,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: 'test',
      AWS_SECRET_ACCESS_KEY: 'test',
    },
  })
  client = new LambdaClient({ endpoint: lambda.endpoint, region: 'us-east-1', credentials: { accessKeyId: 'test', secretAccessKey: 'test' }, maxAttempts: 1 })
})

test.after(async () => {
  client?.destroy()
  await lambda?.close()
  clients?.destroy()
  await dynalite?.close()
  await rm(OUT, { recursive: true, force: true })
})

async function projection(): Promise<string[]> {
  const ids: string[] = []
  let ExclusiveStartKey: Record<string, unknown> | undefined
  do {
    const page = await clients.doc.send(new ScanCommand({ TableName: 'projection', ...(ExclusiveStartKey ? { ExclusiveStartKey } : {}) }))
    ids.push(...(page.Items ?? []).map((i) => i.id as string))
    ExclusiveStartKey = page.LastEvaluatedKey
  } while (ExclusiveStartKey)
  return ids.sort()
}

const orders = () => Array.from({ length: EVENTS }, (_, n) => n).filter((n) => n % 3 === 0).map((n) => `ev-${String(n).padStart(5, '0')}`)

test('the bundle loads in a process of its own and plans the shares of the source table', async () => {
  const invocations: Invocation[] = []
  const invoke = apiInvoke(client, { invocations, functionName: 'hydrate' })
  const planned = (await invoke({ FunctionName: 'arn:aws:lambda:us-east-1:123456789012:function:hydrate', Payload: { action: 'plan', shares: 4 } })) as { Payload: any }
  const shares = planned.Payload.shares as { index: number; count: number; source: string; part: Record<string, unknown> }[]
  assert.equal(shares.map((s) => [s.index, s.count, s.source]), [0, 1, 2, 3].map((i) => [i, 4, 'dynamo:events']))
  assert.equal(shares.map((s) => s.part), [0, 1, 2, 3].map((segment) => ({ segment, totalSegments: 4 })))
})

test('an invocation killed mid-share is retried and resumes from the checkpoint: the table ends with every event once', async () => {
  // An invocation that goes on with a share (it has the share's report so far) is killed 100 ms
  // in, holding the share's lease, after the invocation before it saved a checkpoint. One that ends
  // before its kill (a fast machine, little work left) is followed by the next try, until one dies.
  const invocations: Invocation[] = []
  lambda.inject((call) => {
    const payload = call.payload as { action?: string; share?: { index: number }; report?: unknown }
    const died = invocations.some((i) => i.outcome === 'Runtime.ExitError')
    if (!died && payload.action === 'run' && payload.report) return { killAfterMs: 100 }
    return undefined
  })
  try {
    // Retry waits: 1 ms for Lambda's own errors, 200 ms for a leased share (ten of them outlast
    // the killed invocation's lease), 1 ms after a timeout or a death.
    const output = await runStateMachine(apiInvoke(client, { invocations, functionName: 'hydrate' }), { shares: 3 }, { name: 'backfill-1', retryMs: [1, 200, 1] })
    assert.equal(await projection(), orders(), 'every order in the table, nothing else')

    const killed = invocations.find((i) => i.outcome === 'Runtime.ExitError')?.share
    assert.ok(killed !== undefined, `a share took more than one invocation, and one of those was killed: ${JSON.stringify(invocations)}`)
    const mine = invocations.filter((i) => i.share === killed)
    const died = mine.findIndex((i) => i.outcome === 'Runtime.ExitError')
    assert.ok(died > 0 && mine[died - 1]!.done === false, `the share had gone on before: ${JSON.stringify(mine)}`)
    // A lease held by a dead process of this machine is taken over at once; in Lambda the retry
    // waits (ERR_CHECKPOINT_LOCKED) until the killed invocation's deadline.
    assert.ok(mine.slice(died + 1, -1).every((i) => i.outcome === 'ERR_CHECKPOINT_LOCKED' || (i.outcome === 'ok' && i.done === false)), JSON.stringify(mine))
    assert.equal(mine.at(-1), { action: 'run', share: killed, outcome: 'ok', done: true })
    for (const share of [0, 1, 2]) assert.is(invocations.filter((i) => i.share === share && i.outcome === 'ok').at(-1)?.done, true, `share ${share} ends done`)
    const { count, done, notRun } = output.report.shares
    assert.equal({ count, done, notRun }, { count: 3, done: 3, notRun: 0 })
  } finally {
    lambda.inject(undefined)
  }
})

test.run()
