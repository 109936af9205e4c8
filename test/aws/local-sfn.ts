// What the AWS example's tests share: the example's files, the ASL as deployed (substitutions
// filled in), asl-validator, the template read YAML-ish, and the state machine run locally in
// aws-local-stepfunctions with its Lambda tasks going where a test says, the way the
// `arn:aws:states:::lambda:invoke` integration goes: Parameters { FunctionName, Payload } in,
// { Payload, StatusCode } out (ResultSelector takes $.Payload), a function error failing the state
// with the error's type as the error name, a Lambda service error as `Lambda.<exception>`.
import { InvokeCommand, type LambdaClient } from '@aws-sdk/client-lambda'
import { readFile } from 'node:fs/promises'
import { createRequire } from 'node:module'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
import { StateMachine } from 'aws-local-stepfunctions'

export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..')
export const EXAMPLE = path.join(root, 'examples/aws')
export const ASL = path.join(EXAMPLE, 'state-machine.asl.json')
export const TEMPLATE = path.join(EXAMPLE, 'template.yaml')
/** What the template's DefinitionSubstitutions put where the ASL says `${HydrateFunctionArn}`. */
export const FUNCTION_ARN = 'arn:aws:lambda:us-east-1:123456789012:function:hydrate'

// aws-local-stepfunctions 3 targets Node 22: its Task state calls Promise.withResolvers, which
// Node 20 lacks. The standard behaviour, only where it is missing.
if (typeof (Promise as { withResolvers?: unknown }).withResolvers !== 'function') {
  Object.defineProperty(Promise, 'withResolvers', {
    configurable: true,
    writable: true,
    value: function withResolvers<T>() {
      let resolve!: (value: T) => void
      let reject!: (reason?: unknown) => void
      const promise = new Promise<T>((res, rej) => {
        resolve = res
        reject = rej
      })
      return { promise, resolve, reject }
    },
  })
}

// asl-validator ships no types: its documented call, typed here. It adds QueryLanguage to the
// states of the definition it is given, so it gets a copy.
const require = createRequire(import.meta.url)
const aslValidator = require('asl-validator') as (
  definition: unknown,
  options?: { checkPaths?: boolean; checkArn?: boolean },
) => { isValid: boolean; errors: { message?: string }[]; errorsText: (separator?: string) => string }

/** asl-validator's verdict on a definition (paths and ARNs checked). */
export const validateAsl = (definition: unknown) => aslValidator(structuredClone(definition))

/** The ASL as text, and as the deployed definition: the substitutions filled in. */
export async function definition(): Promise<{ text: string; json: Record<string, any> }> {
  const text = await readFile(ASL, 'utf8')
  return { text, json: JSON.parse(text.replaceAll('${HydrateFunctionArn}', FUNCTION_ARN)) }
}

/** The lines of the YAML block under the first line matching `heading` (by indentation), without comments. */
function yamlBlock(yaml: string, heading: RegExp): string[] {
  const lines = yaml.split('\n')
  const at = lines.findIndex((l) => heading.test(l))
  if (at < 0) return []
  const indent = (l: string) => l.length - l.trimStart().length
  const own = indent(lines[at]!)
  const block: string[] = []
  for (const line of lines.slice(at + 1)) {
    if (!line.trim() || line.trimStart().startsWith('#')) continue
    if (indent(line) <= own) break
    block.push(line)
  }
  const child = Math.min(...block.map(indent))
  return block.filter((l) => indent(l) === child)
}

/** The keys of a YAML mapping under the first line matching `heading`. */
export function yamlKeysUnder(yaml: string, heading: RegExp): string[] {
  return yamlBlock(yaml, heading).flatMap((l) => /^\s*([A-Za-z0-9_]+):/.exec(l)?.[1] ?? [])
}

/** The items of a YAML list (one line each, quotes removed) under the first line matching `heading`. */
export function yamlListUnder(yaml: string, heading: RegExp): string[] {
  return yamlBlock(yaml, heading).flatMap((l) => {
    const item = /^\s*-\s+(.*)$/.exec(l)?.[1]?.trim()
    return item === undefined ? [] : [item.replace(/^'(.*)'$|^"(.*)"$/, '$1$2')]
  })
}

/** The Lambda context a handler gets (the part of it these handlers read). */
export interface TestContext {
  readonly awsRequestId: string
  readonly functionName: string
  readonly invokedFunctionArn: string
  getRemainingTimeInMillis(): number
}

/** A Lambda handler as the runtime calls it. */
export type Handler = (event: any, context: TestContext) => Promise<any>

/** What a task saw of one invocation: its action, share, outcome and the result's `done`. */
export interface Invocation {
  readonly action: string
  readonly share?: number
  /** `ok`, or the error name the state saw. */
  readonly outcome: string
  readonly done?: boolean
}

/** A fault for one invocation: a Lambda service error before the function runs, or a function error of that type. */
export type Fault = { service: string } | { function: string }

/** A Task's local handler: the state's Parameters in, the integration's result out. */
export type TaskHandler = (parameters: any) => Promise<unknown>

/** An error as a Task state fails with it: `name` is the error Retry and Catch match. */
class TaskError extends Error {}
const taskError = (name: string, cause: string) => Object.assign(new TaskError(cause), { name })

function recorder(invocations: Invocation[], event: any) {
  return (outcome: string, done?: unknown) =>
    invocations.push({
      action: event?.action ?? 'run',
      ...(event?.share ? { share: event.share.index } : {}),
      outcome,
      ...(typeof done === 'boolean' ? { done } : {}),
    })
}

/**
 * The integration over a handler in this process: the payload goes through JSON as it does to
 * Lambda, the handler gets `contextFor()`, and `fault` can fail an invocation instead.
 */
export function inProcessInvoke(
  handler: Handler,
  options: { contextFor: () => TestContext; invocations: Invocation[]; fault?: (payload: any, n: number) => Fault | undefined },
): TaskHandler {
  let n = 0
  return async (parameters) => {
    const { FunctionName, Payload } = parameters as { FunctionName: string; Payload: unknown }
    if (FunctionName !== FUNCTION_ARN) throw taskError('States.Runtime', `the task names ${FunctionName}, not the function the template substitutes`)
    const event = JSON.parse(JSON.stringify(Payload))
    const record = recorder(options.invocations, event)
    const fault = options.fault?.(event, ++n)
    if (fault && 'service' in fault) {
      record(fault.service)
      throw taskError(fault.service, `${fault.service}: injected`)
    }
    try {
      if (fault) throw Object.assign(new Error('injected'), { name: fault.function })
      const result = await handler(event, options.contextFor())
      record('ok', result?.done)
      return { ExecutedVersion: '$LATEST', StatusCode: 200, Payload: JSON.parse(JSON.stringify(result ?? null)) }
    } catch (error) {
      const e = error as Error
      record(e.name)
      throw taskError(e.name, JSON.stringify({ errorType: e.name, errorMessage: e.message, trace: [] }))
    }
  }
}

// How Step Functions names the Lambda service's errors; anything else the service answers is
// Lambda.AWSLambdaException, and no answer at all is Lambda.SdkClientException.
const SERVICE_ERRORS = new Set(['ServiceException', 'TooManyRequestsException'])

/**
 * The integration through the Lambda Invoke API (a LambdaClient, e.g. on the Lambda test server):
 * the function's name is taken from the ARN as Lambda does; `FunctionError` fails the task with
 * the payload's `errorType`.
 */
export function apiInvoke(client: Pick<LambdaClient, 'send'>, options: { invocations: Invocation[]; functionName?: string }): TaskHandler {
  return async (parameters) => {
    const { FunctionName, Payload } = parameters as { FunctionName: string; Payload: unknown }
    if (FunctionName !== FUNCTION_ARN) throw taskError('States.Runtime', `the task names ${FunctionName}, not the function the template substitutes`)
    const record = recorder(options.invocations, Payload)
    let out
    try {
      out = await client.send(new InvokeCommand({ FunctionName: options.functionName ?? FunctionName, Payload: JSON.stringify(Payload) }))
    } catch (error) {
      const e = error as Error & { $metadata?: { httpStatusCode?: number } }
      const name = e.$metadata?.httpStatusCode === undefined ? 'Lambda.SdkClientException' : SERVICE_ERRORS.has(e.name) ? `Lambda.${e.name}` : 'Lambda.AWSLambdaException'
      record(name)
      throw taskError(name, e.message)
    }
    const text = Buffer.from(out.Payload ?? []).toString('utf8')
    const payload = text ? JSON.parse(text) : null
    if (out.FunctionError) {
      record(payload?.errorType ?? 'Lambda.Unknown')
      throw taskError(payload?.errorType ?? 'Lambda.Unknown', text)
    }
    record('ok', payload?.done)
    return { ExecutedVersion: out.ExecutedVersion ?? '$LATEST', StatusCode: out.StatusCode ?? 200, Payload: payload }
  }
}

/**
 * Runs the deployed definition locally: every Lambda task (Plan, Run, Merge) calls `invoke`; the
 * Run state's retry waits are `retryMs` (per retrier: transient errors, the lease, timeouts) instead
 * of their seconds. Resolves with the execution's output; rejects as the execution fails.
 */
export async function runStateMachine(invoke: TaskHandler, input: Record<string, unknown>, options: { name?: string; retryMs?: number | number[] } = {}): Promise<{ report: any }> {
  const { json } = await definition()
  const machine = new StateMachine(json as never)
  const execution = machine.run(input as never, {
    overrides: {
      taskResourceLocalHandlers: { Plan: invoke as never, Run: invoke as never, Merge: invoke as never },
      retryIntervalOverrides: { Plan: 1, Run: options.retryMs ?? 1, Merge: 1 },
    },
    context: { Execution: { Name: options.name ?? 'execution-1' } } as never,
  })
  return (await execution.result) as { report: any }
}
