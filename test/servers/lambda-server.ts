import { fork, type ChildProcess } from 'node:child_process'
import { randomUUID } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { listenLocal } from './listen.js'
import path from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

/**
 * A local Lambda Invoke API server (REST JSON, API version 2015-03-31) that runs real handler
 * modules in this process, for tests and benchmarks through the real @aws-sdk/client-lambda:
 *
 * - `POST /2015-03-31/functions/{name}/invocations` runs the handler (`X-Amz-Invocation-Type`
 *   RequestResponse, Event or DryRun). A thrown error, a rejection or a callback error answers 200
 *   with `X-Amz-Function-Error: Unhandled` and `{ errorType, errorMessage, trace }`, as the Node.js
 *   runtimes do today (`Handled` can be injected).
 * - `GET /2015-03-31/functions/{name}` and `.../configuration` answer GetFunction and
 *   GetFunctionConfiguration, so sinks can check the function at open.
 * - Errors carry the `x-amzn-errortype` header and a `{ Type, message }` body the SDK parses:
 *   404 ResourceNotFoundException for unknown functions, 413 RequestTooLargeException above
 *   `maxPayloadBytes`, and any fault injected with `inject()` (429 TooManyRequestsException, 5xx,
 *   a dropped connection).
 *
 * `{name}` may be a name, `name:qualifier`, a partial or full ARN; the `Qualifier` query parameter
 * is read too. Requests are not signature-checked.
 *
 * A module function with `isolated: true` runs as Lambda runs it: in a child Node process of its
 * own for each invocation, with the server's `env`, a context whose `getRemainingTimeInMillis()`
 * runs down from `timeoutMs`, and an end that answers as Lambda does: past `timeoutMs` the child is
 * killed and the answer is `Sandbox.Timedout` (`Task timed out after 1.00 seconds`); a child that
 * dies (an injected `{ killAfterMs }`, `process.exit`, a crash) is `Runtime.ExitError`; a module
 * that cannot load is `Runtime.ImportModuleError`. Each is a 200 with `X-Amz-Function-Error: Unhandled`.
 */

/** A handler as a Lambda Node.js runtime calls it. */
export type TestHandler = (event: unknown, context: Record<string, unknown>, callback: (error?: unknown, result?: unknown) => void) => unknown

/** A function the server knows: a module file (and export), or a handler function. */
export type TestFunction = TestModuleFunction | TestHandler

/** A handler module: a file path (`.mjs`, `.js`, or `.ts` under tsx) and its export. */
export interface TestModuleFunction {
  readonly module: string
  /** The handler's export (also looked up on the default export). @default 'handler' */
  readonly export?: string
  /** Run each invocation in a child Node process of its own, killed when `timeoutMs` is up. @default false */
  readonly isolated?: boolean
  /**
   * The function's timeout: where `getRemainingTimeInMillis()` starts, and for an isolated
   * function when it is killed and answered as timed out. @default 30000
   */
  readonly timeoutMs?: number
}

/** What an injected fault does to one invocation request. */
export type InvokeFault =
  /** Answer with an AWS error (`TooManyRequestsException` 429, `ServiceException` 500, ...). */
  | { readonly status: number; readonly errorType: string; readonly message?: string }
  /** Run nothing and answer as a function error of the given kind. */
  | { readonly functionError: 'Handled' | 'Unhandled'; readonly errorType: string; readonly errorMessage: string }
  /** Destroy the connection without answering (before running the handler). */
  | { readonly drop: true }
  /** Run an isolated function's handler, and SIGKILL its process this many ms after it started. */
  | { readonly killAfterMs: number }

/** One invocation request as the fault hook sees it. */
export interface InvokeCall {
  /** The function name, resolved from a name, `name:alias` or an ARN. */
  readonly functionName: string
  readonly qualifier?: string
  /** The parsed request payload. */
  readonly payload: unknown
  /** 1-based count of requests for this function since the hook was set. */
  readonly count: number
}

export interface LambdaServerOptions {
  /** Function name -> handler. */
  readonly functions: Readonly<Record<string, TestFunction>>
  /** Larger request payloads get 413 RequestTooLargeException. @default 6291456 */
  readonly maxPayloadBytes?: number
  readonly region?: string
  readonly account?: string
  /** Environment variables of isolated functions, over the server's own environment. */
  readonly env?: Readonly<Record<string, string>>
}

export interface LambdaServer {
  /** `http://127.0.0.1:<port>` for the client's `endpoint`. */
  readonly endpoint: string
  /** Handler runs so far (requests answered by a fault do not count). */
  readonly invocations: number
  /** Invocation requests so far, faults included. */
  readonly requests: number
  /** Decides a fault for each invocation request; return undefined to run the handler. */
  inject(hook: ((call: InvokeCall) => InvokeFault | undefined) | undefined): void
  /** Stops listening and kills the processes of isolated invocations still running. */
  close(): Promise<void>
}

const API = '/2015-03-31/functions/'

/** The function name inside a name, `name:qualifier`, a partial ARN or a full ARN. */
export function functionNameOf(raw: string): { name: string; qualifier?: string } {
  let rest = raw
  const full = /^arn:aws[a-z-]*:lambda:[^:]*:\d{12}:function:(.+)$/.exec(rest)
  if (full) rest = full[1]!
  const partial = /^\d{12}:function:(.+)$/.exec(rest)
  if (partial) rest = partial[1]!
  const [name, qualifier] = rest.split(':')
  return { name: name!, ...(qualifier ? { qualifier } : {}) }
}

/** A function error as the Node.js runtime serializes it. */
interface ErrorShape {
  readonly errorType: string
  readonly errorMessage: string
  readonly trace: string[]
}

/** How an invocation ended: its result, or a function error as the runtime answers it. */
type Outcome = { ok: true; result: unknown } | { ok: false; error: ErrorShape }

function errorShape(error: unknown): ErrorShape {
  if (error instanceof Error) {
    return { errorType: error.name || 'Error', errorMessage: error.message, trace: (error.stack ?? '').split('\n') }
  }
  if (typeof error === 'string') return { errorType: 'string', errorMessage: error, trace: [] }
  return { errorType: typeof error, errorMessage: JSON.stringify(error) ?? String(error), trace: [] }
}

/** Runs a handler as the Node.js runtime does: by its promise, or by its callback. */
function runHandler(handler: TestHandler, event: unknown, context: Record<string, unknown>): Promise<{ ok: true; result: unknown } | { ok: false; error: unknown }> {
  return new Promise((resolve) => {
    let done = false
    const finish = (r: { ok: true; result: unknown } | { ok: false; error: unknown }) => {
      if (!done) {
        done = true
        resolve(r)
      }
    }
    const callback = (error?: unknown, result?: unknown) =>
      error !== undefined && error !== null ? finish({ ok: false, error }) : finish({ ok: true, result })
    try {
      const returned = handler(event, { ...context, done: callback, succeed: (r: unknown) => callback(null, r), fail: (e: unknown) => callback(e) }, callback)
      if (returned && typeof (returned as PromiseLike<unknown>).then === 'function') {
        ;(returned as PromiseLike<unknown>).then((result) => finish({ ok: true, result }), (error) => finish({ ok: false, error }))
      } else if (handler.length < 3) {
        finish({ ok: true, result: returned })
      }
    } catch (error) {
      finish({ ok: false, error })
    }
  })
}

/** A module's handler export (or the same name on its default export), loaded by file path. */
async function loadHandler(spec: TestModuleFunction): Promise<TestHandler> {
  const m = (await import(pathToFileURL(path.resolve(spec.module)).href)) as Record<string, unknown>
  const name = spec.export ?? 'handler'
  const fn = m[name] ?? (m.default as Record<string, unknown> | undefined)?.[name]
  if (typeof fn !== 'function') throw new Error(`${spec.module} has no export ${name}`)
  return fn as TestHandler
}

const DEFAULT_TIMEOUT_MS = 30_000
// Lambda gives a function's init (module load) 10 seconds; a child loading TypeScript through tsx
// on a busy machine gets more.
const INIT_TIMEOUT_MS = 30_000
const CHILD_FLAG = '--lambda-server-child'

/** The context fields an isolated child gets (the functions are made there). */
type ContextFields = Record<string, unknown>

/** Messages between the server and an isolated child. */
type ToChild = { event: unknown; context: ContextFields; deadline: number }
type FromChild = { ready: true } | { ready: false; error: ErrorShape } | { ok: true; json: string } | { ok: false; error: ErrorShape }

/**
 * Runs one invocation in a child process of its own: the child loads the module (init), then gets
 * the event; the clock starts with the event, as Lambda's does after init.
 */
function runIsolated(
  spec: TestModuleFunction,
  event: unknown,
  context: ContextFields,
  options: { env: Readonly<Record<string, string | undefined>>; killAfterMs?: number; children: Set<ChildProcess> },
): Promise<Outcome> {
  const timeoutMs = spec.timeoutMs ?? DEFAULT_TIMEOUT_MS
  const requestId = String(context.awsRequestId)
  return new Promise((resolve) => {
    // The child inherits this process's execArgv (tsx's loader), so it loads .ts modules too.
    const child = fork(fileURLToPath(import.meta.url), [CHILD_FLAG, JSON.stringify({ module: path.resolve(spec.module), export: spec.export })], {
      env: options.env,
      stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
      serialization: 'json',
    })
    options.children.add(child)
    let settled = false
    let ending: ErrorShape | undefined
    const timers: NodeJS.Timeout[] = []
    const finish = (outcome: Outcome) => {
      if (settled) return
      settled = true
      for (const t of timers) clearTimeout(t)
      resolve(outcome)
    }
    const kill = (why: ErrorShape) => {
      ending ??= why
      child.kill('SIGKILL')
    }
    const timedOut = (ms: number): ErrorShape => ({
      errorType: 'Sandbox.Timedout',
      errorMessage: `RequestId: ${requestId} Error: Task timed out after ${(ms / 1000).toFixed(2)} seconds`,
      trace: [],
    })
    timers.push(setTimeout(() => kill(timedOut(INIT_TIMEOUT_MS)), INIT_TIMEOUT_MS))
    child.on('message', (message: FromChild) => {
      if ('ready' in message) {
        if (!message.ready) return finish({ ok: false, error: message.error })
        for (const t of timers.splice(0)) clearTimeout(t)
        const deadline = Date.now() + timeoutMs
        timers.push(setTimeout(() => kill(timedOut(timeoutMs)), timeoutMs))
        if (options.killAfterMs !== undefined) {
          const exited = { errorType: 'Runtime.ExitError', errorMessage: `RequestId: ${requestId} Error: Runtime exited with error: signal: killed`, trace: [] }
          timers.push(setTimeout(() => kill(exited), options.killAfterMs))
        }
        child.send({ event, context, deadline } satisfies ToChild)
        return
      }
      if (message.ok) finish({ ok: true, result: JSON.parse(message.json) })
      else finish({ ok: false, error: message.error })
    })
    child.on('exit', (code, signal) => {
      options.children.delete(child)
      finish({
        ok: false,
        error: ending ?? {
          errorType: 'Runtime.ExitError',
          errorMessage: `RequestId: ${requestId} Error: Runtime exited ${signal ? `with error: signal: ${signal === 'SIGKILL' ? 'killed' : signal}` : `with error: exit status ${code}`}`,
          trace: [],
        },
      })
    })
    child.on('error', (error) => finish({ ok: false, error: errorShape(error) }))
  })
}

/** The child side of {@link runIsolated}: load, say ready, run the one event, answer, exit. */
async function runChild(given: string): Promise<void> {
  const spec = JSON.parse(given) as TestModuleFunction
  const send = (message: FromChild) => new Promise<void>((resolve) => process.send!(message, () => resolve()))
  let handler: TestHandler
  try {
    handler = await loadHandler(spec)
  } catch (error) {
    const { errorMessage, trace } = errorShape(error)
    await send({ ready: false, error: { errorType: 'Runtime.ImportModuleError', errorMessage: `Error: ${errorMessage}`, trace } })
    process.exit(0)
  }
  // A server that goes away (a test runner that crashed) takes its invocations with it.
  process.once('disconnect', () => process.exit(0))
  process.once('message', async ({ event, context, deadline }: ToChild) => {
    const outcome = await runHandler(handler, event, { ...context, getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()) })
    // The runtime answers with JSON.stringify(result): undefined becomes null, functions vanish.
    await send(outcome.ok ? { ok: true, json: JSON.stringify(outcome.result) ?? 'null' } : { ok: false, error: errorShape(outcome.error) })
    process.exit(0)
  })
  await send({ ready: true })
}

/**
 * Starts the server on a free port of 127.0.0.1.
 *
 * @example
 * const server = await startLambdaServer({ functions: { projector: { module: 'test/fixtures/handlers/recorder.mjs' } } })
 * const client = new LambdaClient({ endpoint: server.endpoint, region: 'us-east-1', credentials, maxAttempts: 1 })
 * // a bundled handler, as Lambda runs it: its own process, its environment, a 2-second timeout
 * await startLambdaServer({ functions: { hydrate: { module: 'out/handler.mjs', isolated: true, timeoutMs: 2000 } }, env: { TABLE: 'users' } })
 */
export async function startLambdaServer(options: LambdaServerOptions): Promise<LambdaServer> {
  const maxPayloadBytes = options.maxPayloadBytes ?? 6 * 1024 * 1024
  const region = options.region ?? 'us-east-1'
  const account = options.account ?? '123456789012'
  const handlers = new Map<string, Promise<TestHandler>>()
  const children = new Set<ChildProcess>()
  const counts = new Map<string, number>()
  let hook: ((call: InvokeCall) => InvokeFault | undefined) | undefined
  let invocations = 0
  let requests = 0

  const handlerOf = (name: string): Promise<TestHandler> | undefined => {
    const spec = options.functions[name]
    if (!spec) return undefined
    let loaded = handlers.get(name)
    if (!loaded) {
      loaded = typeof spec === 'function' ? Promise.resolve(spec) : loadHandler(spec)
      handlers.set(name, loaded)
    }
    return loaded
  }

  const arn = (name: string, qualifier?: string) => `arn:aws:lambda:${region}:${account}:function:${name}${qualifier ? `:${qualifier}` : ''}`

  const timeoutOf = (name: string) => {
    const spec = options.functions[name]
    return (typeof spec === 'object' ? spec.timeoutMs : undefined) ?? DEFAULT_TIMEOUT_MS
  }
  const isolatedSpec = (name: string) => {
    const spec = options.functions[name]
    return typeof spec === 'object' && spec.isolated ? spec : undefined
  }

  const configuration = (name: string, qualifier?: string) => ({
    FunctionName: name,
    FunctionArn: arn(name, qualifier),
    Runtime: 'nodejs20.x',
    Handler: 'index.handler',
    MemorySize: 128,
    Timeout: Math.ceil(timeoutOf(name) / 1000),
    ...(isolatedSpec(name) && options.env ? { Environment: { Variables: { ...options.env } } } : {}),
    Version: qualifier && /^\d+$/.test(qualifier) ? qualifier : '$LATEST',
    State: 'Active',
    LastUpdateStatus: 'Successful',
    PackageType: 'Zip',
    Architectures: ['x86_64'],
  })

  const sendJson = (res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    const text = JSON.stringify(body)
    res.writeHead(status, {
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(text)),
      'x-amzn-requestid': randomUUID(),
      ...headers,
    })
    res.end(text)
  }
  const sendError = (res: ServerResponse, status: number, errorType: string, message: string, extra: Record<string, unknown> = {}) =>
    sendJson(res, status, { Type: status >= 500 ? 'Service' : 'User', message, ...extra }, { 'x-amzn-errortype': errorType })

  const readBody = (req: IncomingMessage) =>
    new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => resolve(Buffer.concat(chunks)))
      req.on('error', reject)
    })

  const server = createServer(async (req, res) => {
    try {
      const url = new URL(req.url ?? '/', 'http://localhost')
      if (!url.pathname.startsWith(API)) return sendError(res, 404, 'UnknownOperationException', `no route for ${req.method} ${url.pathname}`)
      const parts = url.pathname.slice(API.length).split('/')
      const raw = decodeURIComponent(parts[0] ?? '')
      const op = parts.slice(1).join('/')
      const { name, qualifier: inName } = functionNameOf(raw)
      const qualifier = url.searchParams.get('Qualifier') ?? inName
      const body = await readBody(req)
      const known = options.functions[name] !== undefined

      if (req.method === 'GET' && (op === '' || op === 'configuration')) {
        if (!known) return sendError(res, 404, 'ResourceNotFoundException', `Function not found: ${arn(name, qualifier)}`)
        const config = configuration(name, qualifier)
        return sendJson(res, 200, op === '' ? { Configuration: config, Code: { RepositoryType: 'S3', Location: 'https://example.invalid/code.zip' } } : config)
      }
      if (req.method !== 'POST' || op !== 'invocations') return sendError(res, 404, 'UnknownOperationException', `no route for ${req.method} ${url.pathname}`)

      requests++
      if (!known) return sendError(res, 404, 'ResourceNotFoundException', `Function not found: ${arn(name, qualifier)}`)
      if (body.length > maxPayloadBytes) {
        return sendError(res, 413, 'RequestTooLargeException', `Request must be smaller than ${maxPayloadBytes} bytes for the InvokeFunction operation`)
      }
      let payload: unknown
      try {
        payload = body.length ? JSON.parse(body.toString('utf8')) : {}
      } catch {
        return sendError(res, 400, 'InvalidRequestContentException', 'Could not parse request body into json')
      }
      const count = (counts.get(name) ?? 0) + 1
      counts.set(name, count)
      let fault = hook?.({ functionName: name, ...(qualifier ? { qualifier } : {}), payload, count })
      let killAfterMs: number | undefined
      if (fault && 'killAfterMs' in fault) {
        if (!isolatedSpec(name)) return sendError(res, 500, 'ServiceException', `test server: killAfterMs needs an isolated function, and ${name} runs in the server's process`)
        killAfterMs = fault.killAfterMs
        fault = undefined
      }
      if (fault) {
        if ('drop' in fault) {
          req.socket.destroy()
          return
        }
        if ('functionError' in fault) {
          return sendJson(res, 200, { errorType: fault.errorType, errorMessage: fault.errorMessage, trace: [] }, {
            'x-amz-function-error': fault.functionError,
            'x-amz-executed-version': '$LATEST',
          })
        }
        const extra = fault.errorType === 'TooManyRequestsException' ? { Reason: 'ReservedFunctionConcurrentInvocationLimitExceeded' } : {}
        return sendError(res, fault.status, fault.errorType, fault.message ?? 'Rate Exceeded.', extra)
      }

      const invocationType = String(req.headers['x-amz-invocation-type'] ?? 'RequestResponse')
      if (invocationType === 'DryRun') {
        res.writeHead(204, { 'x-amzn-requestid': randomUUID() })
        return res.end()
      }
      const isolated = isolatedSpec(name)
      const handler = isolated ? undefined : await handlerOf(name)!
      const requestId = randomUUID()
      const started = Date.now()
      const timeoutMs = timeoutOf(name)
      const fields = {
        functionName: name,
        functionVersion: '$LATEST',
        invokedFunctionArn: arn(name, qualifier),
        memoryLimitInMB: '128',
        awsRequestId: requestId,
        logGroupName: `/aws/lambda/${name}`,
        logStreamName: `2024/01/01/[$LATEST]${requestId.replace(/-/g, '')}`,
        callbackWaitsForEmptyEventLoop: true,
      }
      invocations++
      const run: Promise<Outcome> = isolated
        ? runIsolated(isolated, payload, fields, {
            env: {
              ...process.env,
              AWS_LAMBDA_FUNCTION_NAME: name,
              AWS_LAMBDA_FUNCTION_VERSION: '$LATEST',
              AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '128',
              AWS_REGION: region,
              ...options.env,
            },
            ...(killAfterMs !== undefined ? { killAfterMs } : {}),
            children,
          })
        : runHandler(handler!, payload, { ...fields, getRemainingTimeInMillis: () => Math.max(0, timeoutMs - (Date.now() - started)) }).then(
            (r): Outcome => (r.ok ? r : { ok: false, error: errorShape(r.error) }),
          )
      if (invocationType === 'Event') {
        res.writeHead(202, { 'x-amzn-requestid': requestId })
        res.end()
        await run
        return
      }
      const outcome = await run
      if (outcome.ok) {
        return sendJson(res, 200, outcome.result ?? null, { 'x-amz-executed-version': '$LATEST', 'x-amzn-requestid': requestId })
      }
      return sendJson(res, 200, outcome.error, {
        'x-amz-function-error': 'Unhandled',
        'x-amz-executed-version': '$LATEST',
        'x-amzn-requestid': requestId,
      })
    } catch (error) {
      if (!res.headersSent) sendError(res, 500, 'ServiceException', `test server: ${(error as Error).message}`)
    }
  })
  const listening = await listenLocal(server)

  return {
    endpoint: listening.url,
    get invocations() {
      return invocations
    },
    get requests() {
      return requests
    },
    inject(h) {
      hook = h
      counts.clear()
    },
    async close() {
      for (const child of children) child.kill('SIGKILL')
      await listening.close()
    },
  }
}

const main = import.meta.url === pathToFileURL(process.argv[1] ?? '').href
if (main && process.argv[2] === CHILD_FLAG) {
  await runChild(process.argv[3]!)
} else if (main) {
  // `npx tsx test/servers/lambda-server.ts name=module.mjs ...` runs it standalone.
  const functions = Object.fromEntries(process.argv.slice(2).map((a) => a.split('=')).map(([n, m]) => [n!, { module: m! }]))
  const server = await startLambdaServer({ functions })
  console.log(`lambda test server on ${server.endpoint}`)
}
