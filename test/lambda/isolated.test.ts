// The Lambda test server's isolated mode: a handler module run as Lambda runs it, in a process of
// its own per invocation, with its environment and timeout, answering timeouts and deaths as Lambda
// answers them. Talked to through the real @aws-sdk/client-lambda.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true'
import { GetFunctionConfigurationCommand, InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda'
import { readFile } from 'node:fs/promises'
import path from 'node:path'
import { suite } from 'uvu'
import * as assert from 'uvu/assert'
import { tempDir } from '../helpers.js'
import { startLambdaServer, type LambdaServer } from '../servers/lambda-server.js'

const credentials = { accessKeyId: 'test', secretAccessKey: 'test' }

// A handler as a bundler leaves it: one plain .mjs file, loaded by its path.
const HANDLER = `
import { writeFileSync } from 'node:fs'
import { setTimeout as sleep } from 'node:timers/promises'
let calls = 0
export async function handler(event, context) {
  calls++
  if (event.pidFile) writeFileSync(event.pidFile, String(process.pid))
  if (event.sleepMs) await sleep(event.sleepMs)
  if (event.exitCode !== undefined) process.exit(event.exitCode)
  if (event.throw) throw Object.assign(new Error(event.throw), { name: 'ERR_CHECKPOINT_LOCKED' })
  return {
    pid: process.pid,
    calls,
    remainingMs: context.getRemainingTimeInMillis(),
    functionName: context.functionName,
    awsRequestId: context.awsRequestId,
    invokedFunctionArn: context.invokedFunctionArn,
    greeting: process.env.GREETING ?? null,
    lambdaName: process.env.AWS_LAMBDA_FUNCTION_NAME ?? null,
  }
}
`

let server: LambdaServer
let client: LambdaClient
let dir: Awaited<ReturnType<typeof tempDir>>

const test = suite('lambda server: isolated functions')

test.before(async () => {
  dir = await tempDir('eh-isolated-')
  const module = await dir.file('bundle/handler.mjs', HANDLER)
  server = await startLambdaServer({
    functions: {
      worker: { module, isolated: true, timeoutMs: 1000 },
      patient: { module, isolated: true, timeoutMs: 20_000 },
      broken: { module: await dir.file('broken.mjs', 'export const handler = ;\n'), isolated: true },
      inProcess: { module },
    },
    env: { GREETING: 'hello from the server' },
  })
  client = new LambdaClient({ endpoint: server.endpoint, region: 'us-east-1', credentials, maxAttempts: 1 })
})

test.after(async () => {
  client.destroy()
  await server.close()
  await dir.cleanup()
})

test.before.each(() => server.inject(undefined))

async function invoke(functionName: string, payload: unknown) {
  const started = Date.now()
  const out = await client.send(new InvokeCommand({ FunctionName: functionName, Payload: JSON.stringify(payload) }))
  const body = JSON.parse(Buffer.from(out.Payload ?? []).toString('utf8') || 'null')
  return { out, body, ms: Date.now() - started }
}

const alive = (pid: number) => {
  try {
    process.kill(pid, 0)
    return true
  } catch {
    return false
  }
}
const pidIn = async (file: string) => Number(await readFile(file, 'utf8'))

test('a result comes back from a process of its own, with a context that runs down from the timeout', async () => {
  const { out, body } = await invoke('patient', {})
  assert.is(out.StatusCode, 200)
  assert.is(out.FunctionError, undefined)
  assert.is.not(body.pid, process.pid)
  assert.is(body.functionName, 'patient')
  assert.is(body.invokedFunctionArn, 'arn:aws:lambda:us-east-1:123456789012:function:patient')
  assert.is(body.awsRequestId, out.$metadata.requestId)
  assert.ok(body.remainingMs <= 20_000 && body.remainingMs > 19_000, `remaining ${body.remainingMs} ms of 20000`)
  const config = await client.send(new GetFunctionConfigurationCommand({ FunctionName: 'patient' }))
  assert.is(config.Timeout, 20)
})

test('every invocation is a cold start: a new process, no module state carried over', async () => {
  const first = (await invoke('patient', {})).body
  const second = (await invoke('patient', {})).body
  assert.is.not(first.pid, second.pid)
  assert.equal([first.calls, second.calls], [1, 1])
})

test('environment variables given to the server reach the child, with the runtime\'s own', async () => {
  const { body } = await invoke('patient', {})
  assert.is(body.greeting, 'hello from the server')
  assert.is(body.lambdaName, 'patient')
  const config = await client.send(new GetFunctionConfigurationCommand({ FunctionName: 'patient' }))
  assert.equal(config.Environment?.Variables, { GREETING: 'hello from the server' })
})

test('a handler past its timeout is killed and answered as Lambda answers: Sandbox.Timedout', async () => {
  const pidFile = path.join(dir.dir, 'timeout.pid')
  const { out, body, ms } = await invoke('worker', { pidFile, sleepMs: 10_000 })
  assert.is(out.StatusCode, 200)
  assert.is(out.FunctionError, 'Unhandled')
  assert.is(body.errorType, 'Sandbox.Timedout')
  assert.match(body.errorMessage, /^RequestId: [0-9a-f-]+ Error: Task timed out after 1\.00 seconds$/)
  assert.ok(ms >= 1000 && ms < 8000, `answered after ${ms} ms`)
  assert.not.ok(alive(await pidIn(pidFile)), 'the process is gone')
})

test('a process killed while it runs is answered as Runtime.ExitError', async () => {
  server.inject((call) => (call.functionName === 'patient' ? { killAfterMs: 150 } : undefined))
  const pidFile = path.join(dir.dir, 'killed.pid')
  const { out, body, ms } = await invoke('patient', { pidFile, sleepMs: 10_000 })
  assert.is(out.FunctionError, 'Unhandled')
  assert.is(body.errorType, 'Runtime.ExitError')
  assert.match(body.errorMessage, /Error: Runtime exited with error: signal: killed$/)
  assert.ok(ms < 8000, `answered after ${ms} ms`)
  assert.not.ok(alive(await pidIn(pidFile)))
})

test('a handler that exits is Runtime.ExitError with its exit status', async () => {
  const { out, body } = await invoke('patient', { exitCode: 3 })
  assert.is(out.FunctionError, 'Unhandled')
  assert.is(body.errorType, 'Runtime.ExitError')
  assert.match(body.errorMessage, /Runtime exited with error: exit status 3$/)
})

test('a thrown error is a function error named by the error, as in the server\'s process', async () => {
  const isolated = (await invoke('patient', { throw: 'share 3 is leased' })).body
  const inProcess = (await invoke('inProcess', { throw: 'share 3 is leased' })).body
  assert.is(isolated.errorType, 'ERR_CHECKPOINT_LOCKED')
  assert.is(isolated.errorMessage, 'share 3 is leased')
  assert.equal([inProcess.errorType, inProcess.errorMessage], [isolated.errorType, isolated.errorMessage])
})

test('a module that does not load is Runtime.ImportModuleError', async () => {
  const { out, body } = await invoke('broken', {})
  assert.is(out.FunctionError, 'Unhandled')
  assert.is(body.errorType, 'Runtime.ImportModuleError')
})

test('a kill needs an isolated function: the server says so instead of running it', async () => {
  server.inject(() => ({ killAfterMs: 1 }))
  const error = await invoke('inProcess', {}).catch((e: Error) => e)
  assert.instance(error, Error)
  assert.match((error as Error).message, /killAfterMs needs an isolated function/)
})

test('closing the server kills the invocations still running', async () => {
  const local = await startLambdaServer({ functions: { slow: { module: path.join(dir.dir, 'bundle/handler.mjs'), isolated: true } } })
  const other = new LambdaClient({ endpoint: local.endpoint, region: 'us-east-1', credentials, maxAttempts: 1 })
  const pidFile = path.join(dir.dir, 'close.pid')
  const pending = other.send(new InvokeCommand({ FunctionName: 'slow', Payload: JSON.stringify({ pidFile, sleepMs: 20_000 }) })).catch(() => undefined)
  for (let i = 0; i < 200 && !(await readFile(pidFile, 'utf8').catch(() => '')); i++) await new Promise((r) => setTimeout(r, 25))
  const pid = await pidIn(pidFile)
  assert.ok(alive(pid))
  await local.close()
  await pending
  other.destroy()
  for (let i = 0; i < 100 && alive(pid); i++) await new Promise((r) => setTimeout(r, 20))
  assert.not.ok(alive(pid), 'the child is gone')
})

test.run()
