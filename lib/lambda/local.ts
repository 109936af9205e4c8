import { randomUUID } from 'node:crypto'
import { existsSync } from 'node:fs'
import path from 'node:path'
import { pathToFileURL } from 'node:url'
import { HydratorError, errorMessage } from '../errors.js'
import type { Sink } from '../types.js'
import { assertInteger, assertString } from '../util/options.js'
import { invocationSink, type InvokeOptions, type InvokeResult } from './lambda.js'

/** The context object a Lambda handler gets, as far as an in-process call can honour it. */
export interface LambdaLocalContext {
  readonly functionName: string
  readonly functionVersion: string
  readonly invokedFunctionArn: string
  /** A string, as in the Node.js runtime. */
  readonly memoryLimitInMB: string
  readonly awsRequestId: string
  readonly logGroupName: string
  readonly logStreamName: string
  callbackWaitsForEmptyEventLoop: boolean
  getRemainingTimeInMillis(): number
  /** Legacy completion methods, mapped to the callback. */
  done(error?: unknown, result?: unknown): void
  succeed(result?: unknown): void
  fail(error: unknown): void
}

/** A Lambda handler: async (returns a promise) or callback style (`(event, context, callback)`). */
export type LambdaHandler = (event: any, context: LambdaLocalContext, callback: (error?: unknown, result?: unknown) => void) => unknown

/** Options of {@link toLambdaLocal}. */
export interface ToLambdaLocalOptions extends InvokeOptions {
  /**
   * The handler: a function, or `module#export` with the module path relative to `cwd`
   * (`./dist/handler.js#handler`; the export defaults to `handler`).
   */
  readonly handler: string | LambdaHandler
  /** Where a relative module path starts. @default process.cwd() */
  readonly cwd?: string
  /** The function name the context reports. @default the module's file name without extension */
  readonly functionName?: string
  /** After this long an invocation fails as Lambda's do (`Sandbox.Timedout`); the handler is not stopped. @default 30000 */
  readonly timeoutMs?: number
  /** What `context.memoryLimitInMB` says. @default 128 */
  readonly memoryLimitInMB?: number
  /** Region for the context's ARN and the envelope defaults. @default 'us-east-1' */
  readonly region?: string
  /** Account for the context's ARN. @default '000000000000' */
  readonly account?: string
}

/** Splits `./dist/handler.js#handler` into module path and export name. */
export function parseHandlerSpec(spec: string): { readonly module: string; readonly exportName: string } {
  const text = assertString('handler', spec)
  const hash = text.lastIndexOf('#')
  const module = hash === -1 ? text : text.slice(0, hash)
  const exportName = hash === -1 ? 'handler' : text.slice(hash + 1)
  if (!module || !exportName || !/^[A-Za-z_$][\w$]*(\.[A-Za-z_$][\w$]*)*$/.test(exportName)) {
    throw new HydratorError('ERR_INVALID_OPTION', `expected \`handler\` like \`./dist/handler.js#handler\`, got \`${text}\``)
  }
  return { module, exportName }
}

async function loadHandler(spec: string, cwd: string): Promise<LambdaHandler> {
  const { module, exportName } = parseHandlerSpec(spec)
  const file = path.resolve(cwd, module)
  if (!existsSync(file)) throw new HydratorError('ERR_FILE_NOT_FOUND', `handler module \`${module}\` not found (looked at ${file})`)
  let loaded: Record<string, unknown>
  try {
    loaded = (await import(pathToFileURL(file).href)) as Record<string, unknown>
  } catch (error) {
    throw new HydratorError('ERR_TARGET_NOT_FOUND', `cannot load handler module \`${module}\`: ${errorMessage(error)}`, { cause: error })
  }
  const pick = (from: unknown) =>
    exportName.split('.').reduce<unknown>((v, part) => (v && (typeof v === 'object' || typeof v === 'function') ? (v as Record<string, unknown>)[part] : undefined), from)
  // A CommonJS module's exports may sit on `default` only.
  const fn = pick(loaded) ?? pick(loaded.default)
  if (typeof fn !== 'function') {
    const names = Object.keys(loaded).filter((k) => typeof loaded[k] === 'function')
    throw new HydratorError(
      'ERR_TARGET_NOT_FOUND',
      `handler module \`${module}\` has no function export \`${exportName}\`${names.length ? `; it exports ${names.join(', ')}` : ''}`,
    )
  }
  return fn as LambdaHandler
}

function errorShape(error: unknown): { errorType: string; errorMessage: string } {
  if (error instanceof Error) return { errorType: error.name || 'Error', errorMessage: error.message }
  if (typeof error === 'string') return { errorType: 'string', errorMessage: error }
  if (error && typeof error === 'object') {
    const e = error as { errorType?: unknown; errorMessage?: unknown; name?: unknown; message?: unknown }
    return { errorType: String(e.errorType ?? e.name ?? 'object'), errorMessage: String(e.errorMessage ?? e.message ?? JSON.stringify(error)) }
  }
  return { errorType: typeof error, errorMessage: String(error) }
}

/**
 * Calls a handler in-process, as the Node.js runtime would: async handlers by their promise,
 * callback handlers (three parameters, no promise returned) by their callback. Resolves with the
 * outcome; a thrown error, a rejection or a callback error is a function error; past `timeoutMs`
 * the call fails with `Sandbox.Timedout` (the handler itself keeps running: it cannot be stopped).
 */
export function callHandler(
  handler: LambdaHandler,
  payload: unknown,
  context: Omit<LambdaLocalContext, 'getRemainingTimeInMillis' | 'done' | 'succeed' | 'fail' | 'callbackWaitsForEmptyEventLoop'>,
  timeoutMs: number,
): Promise<InvokeResult> {
  return new Promise<InvokeResult>((resolve) => {
    let finished = false
    const deadline = Date.now() + timeoutMs
    const finish = (result: InvokeResult) => {
      if (finished) return
      finished = true
      clearTimeout(timer)
      resolve(result)
    }
    const fail = (error: unknown) => finish({ ok: false, kind: 'Unhandled', ...errorShape(error) })
    const callback = (error?: unknown, _result?: unknown) => (error !== undefined && error !== null ? fail(error) : finish({ ok: true }))
    const timer = setTimeout(
      () => fail({ errorType: 'Sandbox.Timedout', errorMessage: `Task timed out after ${(timeoutMs / 1000).toFixed(2)} seconds` }),
      timeoutMs,
    )
    const full: LambdaLocalContext = {
      ...context,
      callbackWaitsForEmptyEventLoop: true,
      getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
      done: callback,
      succeed: (result) => callback(null, result),
      fail: (error) => callback(error ?? new Error('failed')),
    }
    let returned: unknown
    try {
      returned = handler(payload, full, callback)
    } catch (error) {
      fail(error)
      return
    }
    if (returned && typeof (returned as PromiseLike<unknown>).then === 'function') {
      ;(returned as PromiseLike<unknown>).then(() => finish({ ok: true }), fail)
    } else if (handler.length < 3) {
      // Neither a promise nor a callback parameter: a plain synchronous handler; its return is the result.
      finish({ ok: true })
    }
  })
}

/**
 * Runs a Lambda handler in this process for every event, with the same payload `toLambda` would
 * send (JSON-parsed afresh for each call, so a handler cannot change the next one's input) and a
 * Lambda-like context. Same ordering, retry-free error and report semantics as `toLambda`: a
 * thrown error, a rejection or a callback error fails its event with ERR_FUNCTION_ERROR and the
 * error's name and message. The module is loaded (dynamic import of a file URL resolved against
 * `cwd`) before any event is read; a missing module or export fails at open.
 *
 * @example
 * await pipe(readJsonLines('events.ndjson'), toLambdaLocal({ handler: './dist/projector.js#handler', concurrency: 8, orderKey: 'detail.orderId' }))
 */
export function toLambdaLocal(options: ToLambdaLocalOptions): Sink<unknown> {
  if (!options || (typeof options.handler !== 'string' && typeof options.handler !== 'function')) {
    throw new HydratorError('ERR_INVALID_OPTION', 'expected `handler` to be a function or `./module.js#export`')
  }
  const spec = typeof options.handler === 'string' ? parseHandlerSpec(options.handler) : undefined
  const timeoutMs = assertInteger('timeoutMs', options.timeoutMs ?? 30_000, 1)
  const memory = assertInteger('memoryLimitInMB', options.memoryLimitInMB ?? 128, 1)
  const region = options.region ?? options.envelopeDefaults?.region ?? 'us-east-1'
  const account = options.account ?? options.envelopeDefaults?.account ?? '000000000000'
  const functionName =
    options.functionName ??
    (spec ? path.basename(spec.module).replace(/\.[cm]?[jt]s$/, '') : (options.handler as LambdaHandler).name || 'handler')
  const cwd = options.cwd ?? process.cwd()
  let handler: LambdaHandler | undefined = typeof options.handler === 'function' ? options.handler : undefined
  const uri = `lambda-local:${typeof options.handler === 'string' ? options.handler : functionName}`

  return invocationSink(
    {
      uri,
      async open() {
        if (typeof options.handler === 'string') handler = await loadHandler(options.handler, cwd)
      },
      async invoke(invocation) {
        const requestId = randomUUID()
        return callHandler(
          handler!,
          JSON.parse(invocation.body),
          {
            functionName,
            functionVersion: '$LATEST',
            invokedFunctionArn: `arn:aws:lambda:${region}:${account}:function:${functionName}`,
            memoryLimitInMB: String(memory),
            awsRequestId: requestId,
            logGroupName: `/aws/lambda/${functionName}`,
            logStreamName: `${new Date().toISOString().slice(0, 10).replace(/-/g, '/')}/[$LATEST]${requestId.replace(/-/g, '')}`,
          },
          timeoutMs,
        )
      },
      // Nothing passing can happen in-process: every error is the handler's own.
      isRetryable: () => false,
    },
    { ...options, envelopeDefaults: { region, account, ...options.envelopeDefaults } },
  )
}
