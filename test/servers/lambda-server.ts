import { randomUUID } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { listenLocal } from './listen.js'
import path from 'node:path'
import { pathToFileURL } from 'node:url'

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
 */

/** A handler as a Lambda Node.js runtime calls it. */
export type TestHandler = (event: unknown, context: Record<string, unknown>, callback: (error?: unknown, result?: unknown) => void) => unknown

/** A function the server knows: a module file (and export), or a handler function. */
export type TestFunction = { readonly module: string; readonly export?: string } | TestHandler

/** What an injected fault does to one invocation request. */
export type InvokeFault =
  /** Answer with an AWS error (`TooManyRequestsException` 429, `ServiceException` 500, ...). */
  | { readonly status: number; readonly errorType: string; readonly message?: string }
  /** Run nothing and answer as a function error of the given kind. */
  | { readonly functionError: 'Handled' | 'Unhandled'; readonly errorType: string; readonly errorMessage: string }
  /** Destroy the connection without answering (before running the handler). */
  | { readonly drop: true }

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

function errorShape(error: unknown): { errorType: string; errorMessage: string; trace: string[] } {
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

/**
 * Starts the server on a free port of 127.0.0.1.
 *
 * @example
 * const server = await startLambdaServer({ functions: { projector: { module: 'test/fixtures/handlers/recorder.mjs' } } })
 * const client = new LambdaClient({ endpoint: server.endpoint, region: 'us-east-1', credentials, maxAttempts: 1 })
 */
export async function startLambdaServer(options: LambdaServerOptions): Promise<LambdaServer> {
  const maxPayloadBytes = options.maxPayloadBytes ?? 6 * 1024 * 1024
  const region = options.region ?? 'us-east-1'
  const account = options.account ?? '123456789012'
  const handlers = new Map<string, Promise<TestHandler>>()
  const counts = new Map<string, number>()
  let hook: ((call: InvokeCall) => InvokeFault | undefined) | undefined
  let invocations = 0
  let requests = 0

  const handlerOf = (name: string): Promise<TestHandler> | undefined => {
    const spec = options.functions[name]
    if (!spec) return undefined
    let loaded = handlers.get(name)
    if (!loaded) {
      loaded =
        typeof spec === 'function'
          ? Promise.resolve(spec)
          : import(pathToFileURL(path.resolve(spec.module)).href).then((m: Record<string, unknown>) => {
              const fn = m[spec.export ?? 'handler'] ?? (m.default as Record<string, unknown> | undefined)?.[spec.export ?? 'handler']
              if (typeof fn !== 'function') throw new Error(`${spec.module} has no export ${spec.export ?? 'handler'}`)
              return fn as TestHandler
            })
      handlers.set(name, loaded)
    }
    return loaded
  }

  const arn = (name: string, qualifier?: string) => `arn:aws:lambda:${region}:${account}:function:${name}${qualifier ? `:${qualifier}` : ''}`

  const configuration = (name: string, qualifier?: string) => ({
    FunctionName: name,
    FunctionArn: arn(name, qualifier),
    Runtime: 'nodejs20.x',
    Handler: 'index.handler',
    MemorySize: 128,
    Timeout: 30,
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
      const fault = hook?.({ functionName: name, ...(qualifier ? { qualifier } : {}), payload, count })
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
      const handler = await handlerOf(name)!
      const requestId = randomUUID()
      const started = Date.now()
      const context = {
        functionName: name,
        functionVersion: '$LATEST',
        invokedFunctionArn: arn(name, qualifier),
        memoryLimitInMB: '128',
        awsRequestId: requestId,
        logGroupName: `/aws/lambda/${name}`,
        logStreamName: `2024/01/01/[$LATEST]${requestId.replace(/-/g, '')}`,
        callbackWaitsForEmptyEventLoop: true,
        getRemainingTimeInMillis: () => Math.max(0, 30_000 - (Date.now() - started)),
      }
      invocations++
      const run = runHandler(handler, payload, context)
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
      return sendJson(res, 200, errorShape(outcome.error), {
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
    close: listening.close,
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  // `npx tsx test/servers/lambda-server.ts name=module.mjs ...` runs it standalone.
  const functions = Object.fromEntries(process.argv.slice(2).map((a) => a.split('=')).map(([n, m]) => [n!, { module: m! }]))
  const server = await startLambdaServer({ functions })
  console.log(`lambda test server on ${server.endpoint}`)
}
