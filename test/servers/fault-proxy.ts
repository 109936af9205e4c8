import { createServer, request as httpRequest, type IncomingHttpHeaders, type Server } from 'node:http'
import * as zlib from 'node:zlib'
import { rng } from '../../bench/generate.js'
import { listenLocal } from './listen.js'

/**
 * A generic HTTP proxy that injects faults in front of any local HTTP server (dynalite, an
 * OpenSearch stand-in, a Lambda or EventBridge test server). Each request is read whole, shown to
 * the rules in order, and the first rule that matches (and still has uses left) decides what happens
 * to it: forward it (possibly rewritten), answer it directly, delay it, or drop the connection.
 *
 * Rewriting a request body invalidates an AWS SigV4 signature: fine for local servers, which do not
 * check it. Rewritten response bodies get a fresh content-length and x-amz-crc32.
 */

/** A request as the proxy read it. */
export interface ProxyRequest {
  /** 0-based index of the request since the proxy started. */
  readonly index: number
  readonly method: string
  /** Path and query string. */
  readonly url: string
  readonly headers: IncomingHttpHeaders
  readonly body: Buffer
}

/** An upstream response, as given to a response rewriter. */
export interface ProxyResponse {
  readonly status: number
  readonly headers: IncomingHttpHeaders
  readonly body: Buffer
}

/** What to do with one request. */
export type FaultAction =
  /** Send it upstream, possibly with another body, and possibly rewrite the answer or drop it. */
  | {
      readonly kind: 'forward'
      /** A replacement request body. */
      readonly body?: Buffer | string
      /** Rewrites the upstream response before it goes back to the client. */
      readonly response?: (response: ProxyResponse) => Partial<ProxyResponse> | undefined
      /** Apply upstream, then destroy the client's socket instead of answering: "did it happen?" */
      readonly dropResponse?: boolean
      /** Apply upstream, then hold the answer this long: a client with a shorter timeout gives up. */
      readonly holdResponseMs?: number
      /** Send the answer's headers (its full length) and only its first this-many body bytes, then cut the connection. */
      readonly cutResponseAt?: number
    }
  /** Answer without asking upstream. */
  | { readonly kind: 'respond'; readonly status: number; readonly headers?: Record<string, string>; readonly body?: Buffer | string }
  /** Destroy the client's socket without forwarding: the request never reaches upstream. */
  | { readonly kind: 'drop' }
  /** Wait, then do `then` (forward by default). */
  | { readonly kind: 'delay'; readonly ms: number; readonly then?: FaultAction }

/** One rule: when it applies, and what it does. */
export interface FaultRule {
  /** A name for the proxy's counters. @default `rule<index>` */
  readonly name?: string
  /** Which requests the rule looks at. @default every request */
  readonly match?: (request: ProxyRequest) => boolean
  /** Apply to this many matching requests, then stand aside. @default Infinity */
  readonly times?: number
  /** Apply to a matching request with this probability (from the proxy's seeded RNG). @default 1 */
  readonly probability?: number
  /** The action, or a function deciding it (returning undefined passes to the next rule). */
  readonly action: FaultAction | ((request: ProxyRequest) => FaultAction | undefined | Promise<FaultAction | undefined>)
}

export interface FaultProxyOptions {
  /** The server to proxy to, e.g. `http://127.0.0.1:4567`. */
  readonly target: string
  readonly rules?: readonly FaultRule[]
  /** A last word on every request, after the rules found nothing. */
  readonly onRequest?: (request: ProxyRequest) => FaultAction | undefined | Promise<FaultAction | undefined>
  /** Seed of the RNG behind `probability`. @default 1 */
  readonly seed?: number
  /** Forward the client's Host header as it is (S3 signs it; s3rver checks the signature). @default false */
  readonly keepHost?: boolean
}

export interface FaultProxy {
  /** `http://127.0.0.1:<port>` */
  readonly url: string
  readonly port: number
  /** Requests seen, how many times each rule applied, and restarts. */
  readonly stats: { requests: number; applied: Record<string, number>; restarts: number }
  /** Replaces the rules; their use counts and `stats.applied` start again. */
  setRules(rules: readonly FaultRule[]): void
  /**
   * Goes away like a restarting server: cuts every open connection (requests already forwarded
   * are still applied upstream, their answers are lost), refuses connections for `downMs`, then
   * listens on the same port again. Resolves once it is back.
   */
  restart(downMs: number): Promise<void>
  close(): Promise<void>
}

/**
 * Starts a fault-injecting proxy on a free 127.0.0.1 port.
 *
 * @example
 * const proxy = await startFaultProxy({ target: server.endpoint, rules: [dynamo.throttle({ times: 3 })] })
 */
export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const target = new URL(options.target)
  const random = rng(options.seed ?? 1)
  let rules: { rule: FaultRule; name: string; left: number }[] = []
  const stats = { requests: 0, applied: {} as Record<string, number>, restarts: 0 }
  const setRules = (next: readonly FaultRule[]) => {
    rules = next.map((rule, i) => ({ rule, name: rule.name ?? `rule${i}`, left: rule.times ?? Infinity }))
    for (const name of Object.keys(stats.applied)) delete stats.applied[name]
  }
  setRules(options.rules ?? [])

  const decide = async (request: ProxyRequest): Promise<FaultAction> => {
    for (const entry of rules) {
      if (entry.left <= 0) continue
      if (entry.rule.match && !entry.rule.match(request)) continue
      if (entry.rule.probability !== undefined && random() >= entry.rule.probability) continue
      const action = typeof entry.rule.action === 'function' ? await entry.rule.action(request) : entry.rule.action
      if (!action) continue
      entry.left--
      stats.applied[entry.name] = (stats.applied[entry.name] ?? 0) + 1
      return action
    }
    return (await options.onRequest?.(request)) ?? { kind: 'forward' }
  }

  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const request: ProxyRequest = {
        index: stats.requests++,
        method: req.method ?? 'GET',
        url: req.url ?? '/',
        headers: req.headers,
        body: Buffer.concat(chunks),
      }
      const perform = async (action: FaultAction): Promise<void> => {
        switch (action.kind) {
          case 'drop':
            req.socket.destroy()
            return
          case 'delay':
            await new Promise((r) => setTimeout(r, action.ms))
            return perform(action.then ?? { kind: 'forward' })
          case 'respond': {
            const body = toBuffer(action.body ?? '')
            res.writeHead(action.status, withBodyHeaders({ ...(action.headers ?? {}) }, body))
            res.end(body)
            return
          }
          case 'forward': {
            const body = action.body !== undefined ? toBuffer(action.body) : request.body
            const headers: IncomingHttpHeaders = options.keepHost ? { ...req.headers } : { ...req.headers, host: target.host }
            if (action.body !== undefined) headers['content-length'] = String(body.length)
            const upstream = await forward(target, request.method, request.url, headers, body)
            if (action.dropResponse) {
              req.socket.destroy()
              return
            }
            if (action.holdResponseMs) await new Promise((r) => setTimeout(r, action.holdResponseMs))
            let out: ProxyResponse = upstream
            const changed = action.response?.(upstream)
            if (changed) {
              out = { ...upstream, ...changed }
              if (changed.body) out = { ...out, headers: withBodyHeaders({ ...out.headers }, out.body) }
            }
            res.writeHead(out.status, stripHopHeaders(out.headers))
            if (action.cutResponseAt !== undefined) {
              res.write(out.body.subarray(0, action.cutResponseAt), () => setTimeout(() => req.socket.destroy(), 10))
              return
            }
            res.end(out.body)
            return
          }
        }
      }
      decide(request)
        .then(perform)
        .catch((error: unknown) => {
          if (!res.headersSent) {
            res.writeHead(502, { 'content-type': 'text/plain' })
            res.end(`fault proxy: ${(error as Error).message}`)
          } else {
            req.socket.destroy()
          }
        })
    })
  })
  const listening = await listenLocal(server)
  const port = listening.port
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    stats,
    setRules,
    // The same port, so clients keep their endpoint; the OS could in theory hand it out meanwhile.
    async restart(downMs) {
      stats.restarts++
      await listening.restart(downMs)
    },
    close: listening.close,
  }
}

function toBuffer(body: Buffer | string): Buffer {
  return typeof body === 'string' ? Buffer.from(body) : body
}

function forward(target: URL, method: string, path: string, headers: IncomingHttpHeaders, body: Buffer): Promise<ProxyResponse> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      { host: target.hostname, port: target.port, method, path, headers, agent: false },
      (res) => {
        const chunks: Buffer[] = []
        res.on('data', (c: Buffer) => chunks.push(c))
        res.on('end', () => resolve({ status: res.statusCode ?? 502, headers: res.headers, body: Buffer.concat(chunks) }))
        res.on('error', reject)
      },
    )
    req.on('error', reject)
    req.end(body)
  })
}

// The length and checksum must describe the body actually sent.
// An x-amz-crc32 header (DynamoDB sends one) is recomputed when present, dropped when it cannot be.
function withBodyHeaders(headers: Record<string, string | string[] | undefined>, body: Buffer): Record<string, string | string[] | undefined> {
  const out: Record<string, string | string[] | undefined> = {}
  let hadCrc = false
  for (const [k, v] of Object.entries(headers)) {
    const lower = k.toLowerCase()
    if (lower === 'x-amz-crc32') hadCrc = true
    if (lower === 'content-length' || lower === 'x-amz-crc32' || lower === 'transfer-encoding') continue
    out[k] = v
  }
  out['content-length'] = String(body.length)
  const crc32 = (zlib as { crc32?: (data: Buffer) => number }).crc32
  if (hadCrc && crc32) out['x-amz-crc32'] = String(crc32(body) >>> 0)
  return out
}

function stripHopHeaders(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  const out: IncomingHttpHeaders = { ...headers }
  delete out.connection
  delete out['keep-alive']
  delete out['transfer-encoding']
  return out
}

// ---------------------------------------------------------------------------------------------
// Matching AWS requests

/**
 * The operation of an AWS JSON-protocol request (DynamoDB `BatchWriteItem`, EventBridge
 * `PutEvents`), from its X-Amz-Target header.
 */
export function awsOperation(request: ProxyRequest): string | undefined {
  const target = request.headers['x-amz-target']
  const value = Array.isArray(target) ? target[0] : target
  return value?.split('.').pop()
}

/** Matches requests for one or more operations of an AWS JSON-protocol service (DynamoDB, EventBridge). */
export function isAwsOp(...operations: string[]): (request: ProxyRequest) => boolean {
  return (request) => operations.includes(awsOperation(request) ?? '')
}

/** {@link awsOperation} for DynamoDB requests. */
export const dynamoOperation = awsOperation
/** {@link isAwsOp} for DynamoDB operations. */
export const isDynamoOp = isAwsOp

/** Matches Lambda Invoke requests (REST: `POST /2015-03-31/functions/{name}/invocations`). */
export function isLambdaInvoke(request: ProxyRequest): boolean {
  return request.method === 'POST' && /\/functions\/[^/]+\/invocations(\?|$)/.test(request.url)
}

// ---------------------------------------------------------------------------------------------
// DynamoDB rules (JSON 1.0 protocol: the operation is in the X-Amz-Target header)

/** A DynamoDB-style JSON error answer. */
export function dynamoError(status: number, type: string, message: string): FaultAction {
  return {
    kind: 'respond',
    status,
    headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amzn-errortype': type, 'x-amz-crc32': '' },
    body: JSON.stringify({ __type: `com.amazonaws.dynamodb.v20120810#${type}`, message }),
  }
}

interface RuleLimits {
  /** Apply to this many matching requests. @default Infinity */
  readonly times?: number
  /** Apply with this probability (seeded). */
  readonly probability?: number
  /** Operations to apply to. */
  readonly operations?: readonly string[]
}

const limits = (name: string, o: RuleLimits, defaults: readonly string[] | undefined) => {
  const ops = o.operations ?? defaults
  return {
    name,
    ...(ops ? { match: isDynamoOp(...ops) } : {}),
    ...(o.times !== undefined ? { times: o.times } : {}),
    ...(o.probability !== undefined ? { probability: o.probability } : {}),
  }
}

type WriteRequest = Record<string, unknown>

/** Ready-made DynamoDB faults. */
export const dynamoFaults = {
  /** HTTP 400 ProvisionedThroughputExceededException. */
  throttle(o: RuleLimits & { readonly type?: string } = {}): FaultRule {
    const type = o.type ?? 'ProvisionedThroughputExceededException'
    return {
      ...limits(type, o, undefined),
      action: dynamoError(400, type, 'The level of configured provisioned throughput for the table was exceeded.'),
    }
  },
  /** HTTP 500 InternalServerError. */
  serverError(o: RuleLimits = {}): FaultRule {
    return { ...limits('InternalServerError', o, undefined), action: dynamoError(500, 'InternalServerError', 'Internal server error') }
  },
  /** Destroys the connection; with `afterApply`, only after upstream has applied the request. */
  drop(o: RuleLimits & { readonly afterApply?: boolean } = {}): FaultRule {
    return {
      ...limits(o.afterApply ? 'drop-after-apply' : 'drop', o, undefined),
      action: o.afterApply ? { kind: 'forward', dropResponse: true } : { kind: 'drop' },
    }
  },
  /** Holds each matching request back for `ms`. */
  delay(ms: number, o: RuleLimits = {}): FaultRule {
    return { ...limits('delay', o, undefined), action: { kind: 'delay', ms } }
  },
  /**
   * Moves part of each BatchWriteItem into UnprocessedItems: upstream gets only the first
   * `keep(n)` writes of each table (at least 0), the rest come back unprocessed. When nothing is
   * kept the proxy answers itself.
   * @default keep half, rounded up
   */
  unprocessed(o: Omit<RuleLimits, 'operations'> & { readonly keep?: (count: number) => number } = {}): FaultRule {
    const keep = o.keep ?? ((n: number) => Math.ceil(n / 2))
    return {
      ...limits('UnprocessedItems', o, ['BatchWriteItem']),
      action: (request) => {
        const input = JSON.parse(request.body.toString('utf8')) as { RequestItems: Record<string, WriteRequest[]> }
        const forwarded: Record<string, WriteRequest[]> = {}
        const unprocessed: Record<string, WriteRequest[]> = {}
        let moved = 0
        for (const [table, writes] of Object.entries(input.RequestItems)) {
          const k = Math.max(0, Math.min(writes.length, keep(writes.length)))
          if (k > 0) forwarded[table] = writes.slice(0, k)
          if (k < writes.length) {
            unprocessed[table] = writes.slice(k)
            moved += writes.length - k
          }
        }
        if (moved === 0) return undefined
        if (Object.keys(forwarded).length === 0) {
          const body = Buffer.from(JSON.stringify({ UnprocessedItems: unprocessed }))
          return { kind: 'respond', status: 200, headers: { 'content-type': 'application/x-amz-json-1.0', 'x-amz-crc32': '' }, body }
        }
        return {
          kind: 'forward',
          body: JSON.stringify({ ...input, RequestItems: forwarded }),
          response: (response) => {
            if (response.status !== 200) return undefined
            const output = JSON.parse(response.body.toString('utf8')) as { UnprocessedItems?: Record<string, WriteRequest[]> }
            const merged: Record<string, WriteRequest[]> = { ...(output.UnprocessedItems ?? {}) }
            for (const [table, writes] of Object.entries(unprocessed)) merged[table] = [...(merged[table] ?? []), ...writes]
            return { body: Buffer.from(JSON.stringify({ ...output, UnprocessedItems: merged })) }
          },
        }
      },
    }
  },
}

// ---------------------------------------------------------------------------------------------
// A target that throttles above a fixed rate (for --rate auto)

/** What a rate-limited target let through and refused, request by request. */
export interface RateLimitLog {
  /** Units let through (requests, or writes of a batch). */
  admitted: number
  /** Units refused (throttled, or left unprocessed). */
  refused: number
  /** Each counted request: when (ms since the limiter's first request), units let through and refused. */
  readonly entries: { at: number; admitted: number; refused: number }[]
}

/** A rule that makes its target take at most a fixed rate, and the log of what it did. */
export interface RateLimit {
  readonly rule: FaultRule
  readonly log: RateLimitLog
}

export interface RateLimitOptions {
  /** Units the target takes per second, on average. */
  readonly perSecond: number
  /** Units it takes at once after a quiet spell. @default a tenth of a second's worth, at least 1 */
  readonly burst?: number
  /** Which requests count. @default every request */
  readonly match?: (request: ProxyRequest) => boolean
  /** A request's units (the writes of a batch). @default 1 */
  readonly cost?: (request: ProxyRequest) => number
  /** The answer to a request that finds no units left. */
  readonly reject: FaultAction
  /**
   * Lets part of a request through when some units are left (DynamoDB: the rest as
   * UnprocessedItems). Without it, a request needs all its units or is refused whole.
   */
  readonly partial?: (request: ProxyRequest, units: number) => FaultAction | undefined
  readonly name?: string
}

/**
 * A token bucket in front of the target: requests within `perSecond` (and `burst`) pass, the
 * others get `reject` (or go through in part, with `partial`). The target's own capacity, as
 * DynamoDB's provisioned throughput or Lambda's reserved concurrency is.
 *
 * @example
 * const limit = rateLimit({ perSecond: 200, match: isLambdaInvoke, reject: lambdaError(429, 'TooManyRequestsException', 'Rate Exceeded.') })
 * const proxy = await startFaultProxy({ target: server.endpoint, rules: [limit.rule] })
 */
export function rateLimit(options: RateLimitOptions): RateLimit {
  const burst = options.burst ?? Math.max(1, Math.ceil(options.perSecond / 10))
  let tokens = burst
  let last: number | undefined
  let first: number | undefined
  const log: RateLimitLog = { admitted: 0, refused: 0, entries: [] }
  const note = (at: number, admitted: number, refused: number) => {
    log.admitted += admitted
    log.refused += refused
    log.entries.push({ at: at - first!, admitted, refused })
  }
  return {
    log,
    rule: {
      name: options.name ?? 'rate-limit',
      ...(options.match ? { match: options.match } : {}),
      action: (request) => {
        const now = performance.now()
        first ??= now
        tokens = Math.min(burst, tokens + ((now - (last ?? now)) * options.perSecond) / 1000)
        last = now
        const cost = options.cost?.(request) ?? 1
        if (cost <= 0) return undefined
        if (tokens >= cost) {
          tokens -= cost
          note(now, cost, 0)
          return undefined
        }
        const some = Math.floor(tokens)
        const part = options.partial && some > 0 ? options.partial(request, some) : undefined
        if (part) {
          tokens -= some
          note(now, some, cost - some)
          return part
        }
        note(now, 0, cost)
        return options.reject
      },
    },
  }
}

/** A Lambda-style JSON error answer (REST JSON: `x-amzn-errortype` and a `{ Type, message }` body). */
export function lambdaError(status: number, type: string, message: string, extra: Record<string, unknown> = {}): FaultAction {
  return {
    kind: 'respond',
    status,
    headers: { 'content-type': 'application/json', 'x-amzn-errortype': type },
    body: JSON.stringify({ Type: status >= 500 ? 'Service' : 'User', message, ...extra }),
  }
}

/** The writes of a DynamoDB BatchWriteItem (1 for any other write request). */
export function dynamoWriteCount(request: ProxyRequest): number {
  const op = awsOperation(request)
  if (op === 'BatchWriteItem') {
    const input = JSON.parse(request.body.toString('utf8')) as { RequestItems?: Record<string, unknown[]> }
    return Object.values(input.RequestItems ?? {}).reduce((n, writes) => n + writes.length, 0)
  }
  return op === 'PutItem' || op === 'DeleteItem' || op === 'UpdateItem' ? 1 : 0
}

/**
 * A DynamoDB table that takes at most `perSecond` writes a second, as provisioned throughput
 * does: a BatchWriteItem gets what is left and the rest back as UnprocessedItems; a request that
 * finds nothing left gets 400 ProvisionedThroughputExceededException.
 */
export function dynamoRateLimit(o: { readonly perSecond: number; readonly burst?: number; readonly type?: string }): RateLimit {
  const type = o.type ?? 'ProvisionedThroughputExceededException'
  return rateLimit({
    name: 'dynamo-rate-limit',
    perSecond: o.perSecond,
    ...(o.burst !== undefined ? { burst: o.burst } : {}),
    match: isDynamoOp('BatchWriteItem', 'PutItem', 'DeleteItem', 'UpdateItem'),
    cost: dynamoWriteCount,
    reject: dynamoError(400, type, 'The level of configured provisioned throughput for the table was exceeded.'),
    partial: (request, units) => {
      if (awsOperation(request) !== 'BatchWriteItem') return undefined
      const action = dynamoFaults.unprocessed({ keep: () => units }).action
      return typeof action === 'function' ? (action(request) as FaultAction | undefined) : action
    },
  })
}
