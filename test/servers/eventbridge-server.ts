import { randomUUID } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import { listenLocal } from './listen.js'

/**
 * A local EventBridge server speaking the AWS JSON 1.1 protocol (`X-Amz-Target: AWSEvents.<Op>`)
 * to the real @aws-sdk/client-eventbridge, for tests and benchmarks. It answers:
 *
 * - `PutEvents`: validates the request (1 to 10 entries, total entry size at most `maxRequestBytes`
 *   computed as AWS documents it, otherwise 400 ValidationException) and each entry (Source,
 *   DetailType and Detail required: `InvalidArgument`; Detail a JSON object: `MalformedDetail`;
 *   `aws.` sources: `NotAuthorizedForSourceException`; unknown bus: 400 ResourceNotFoundException),
 *   stores the accepted events per bus, and fails entries on demand (`injectEntry`) with
 *   FailedEntryCount and per-entry ErrorCode / ErrorMessage.
 * - `DescribeEventBus`: the bus, or 400 ResourceNotFoundException.
 *
 * Requests are not signature-checked.
 */

/** A PutEvents entry as received (Time as epoch seconds, as the SDK sends it). */
export interface ReceivedEntry {
  readonly EventBusName?: string
  readonly Source?: string
  readonly DetailType?: string
  readonly Detail?: string
  readonly Resources?: string[]
  readonly Time?: number
}

/** An event the server accepted. */
export interface StoredEvent extends ReceivedEntry {
  readonly EventId: string
}

/** One PutEvents request as received. */
export interface PutEventsRequestLog {
  readonly entries: readonly ReceivedEntry[]
  /** Total entry size as AWS computes it. */
  readonly bytes: number
}

/** A per-entry failure to inject. */
export interface EntryFault {
  readonly errorCode: string
  readonly errorMessage?: string
}

/** A whole-request failure to inject (e.g. `{ status: 400, type: 'ThrottlingException' }`). */
export type RequestFault = { readonly status: number; readonly type: string; readonly message?: string } | { readonly drop: true }

export interface EventBridgeServerOptions {
  /** Buses besides `default`. */
  readonly buses?: readonly string[]
  /** @default 262144 */
  readonly maxRequestBytes?: number
  readonly region?: string
  readonly account?: string
}

export interface EventBridgeServer {
  readonly endpoint: string
  /** Accepted events per bus name. */
  readonly events: Map<string, StoredEvent[]>
  /** Every PutEvents request, in order. */
  readonly requests: PutEventsRequestLog[]
  /** Decides a failure for an entry (with how many times this same Detail was seen since the hook was set); undefined accepts it. */
  injectEntry(hook: ((entry: ReceivedEntry, seen: number) => EntryFault | undefined) | undefined): void
  /** Decides a failure for a whole PutEvents request (1-based request index). */
  injectRequest(hook: ((index: number, entries: readonly ReceivedEntry[]) => RequestFault | undefined) | undefined): void
  close(): Promise<void>
}

/** The size of an entry, as AWS documents it for PutEvents. */
export function entrySize(entry: ReceivedEntry): number {
  let size = entry.Time !== undefined ? 14 : 0
  size += Buffer.byteLength(entry.Source ?? '') + Buffer.byteLength(entry.DetailType ?? '')
  if (entry.Detail) size += Buffer.byteLength(entry.Detail)
  for (const r of entry.Resources ?? []) if (r) size += Buffer.byteLength(r)
  return size
}

/**
 * Starts the server on a free port of 127.0.0.1.
 *
 * @example
 * const server = await startEventBridgeServer({ buses: ['orders'] })
 * const client = new EventBridgeClient({ endpoint: server.endpoint, region: 'us-east-1', credentials, maxAttempts: 1 })
 */
export async function startEventBridgeServer(options: EventBridgeServerOptions = {}): Promise<EventBridgeServer> {
  const maxRequestBytes = options.maxRequestBytes ?? 256 * 1024
  const region = options.region ?? 'us-east-1'
  const account = options.account ?? '123456789012'
  const buses = new Set(['default', ...(options.buses ?? [])])
  const events = new Map<string, StoredEvent[]>()
  const requests: PutEventsRequestLog[] = []
  const seen = new Map<string, number>()
  let entryHook: ((entry: ReceivedEntry, seen: number) => EntryFault | undefined) | undefined
  let requestHook: ((index: number, entries: readonly ReceivedEntry[]) => RequestFault | undefined) | undefined

  const busName = (nameOrArn: string | undefined) => {
    const name = nameOrArn || 'default'
    const m = /^arn:aws[a-z-]*:events:[^:]*:\d{12}:event-bus\/(.+)$/.exec(name)
    return m ? m[1]! : name
  }

  const send = (res: ServerResponse, status: number, body: unknown) => {
    const text = JSON.stringify(body)
    res.writeHead(status, {
      'content-type': 'application/x-amz-json-1.1',
      'content-length': String(Buffer.byteLength(text)),
      'x-amzn-requestid': randomUUID(),
    })
    res.end(text)
  }
  const fail = (res: ServerResponse, status: number, type: string, message: string) => send(res, status, { __type: type, message })

  const readBody = (req: IncomingMessage) =>
    new Promise<Buffer>((resolve, reject) => {
      const chunks: Buffer[] = []
      req.on('data', (c: Buffer) => chunks.push(c))
      req.on('end', () => resolve(Buffer.concat(chunks)))
      req.on('error', reject)
    })

  const entryError = (entry: ReceivedEntry): EntryFault | undefined => {
    if (!entry.Source) return { errorCode: 'InvalidArgument', errorMessage: 'Parameter Source is not valid. Reason: Source is a required argument.' }
    if (!entry.DetailType) return { errorCode: 'InvalidArgument', errorMessage: 'Parameter DetailType is not valid. Reason: DetailType is a required argument.' }
    if (entry.Detail === undefined) return { errorCode: 'InvalidArgument', errorMessage: 'Parameter Detail is not valid. Reason: Detail is a required argument.' }
    let detail: unknown
    try {
      detail = JSON.parse(entry.Detail)
    } catch {
      return { errorCode: 'MalformedDetail', errorMessage: 'Detail is malformed.' }
    }
    if (!detail || typeof detail !== 'object' || Array.isArray(detail)) return { errorCode: 'MalformedDetail', errorMessage: 'Detail is malformed.' }
    if (entry.Source.startsWith('aws.')) {
      return { errorCode: 'NotAuthorizedForSourceException', errorMessage: `Not authorized for the source ${entry.Source}.` }
    }
    return undefined
  }

  const server = createServer(async (req, res) => {
    try {
      const target = String(req.headers['x-amz-target'] ?? '')
      const body = await readBody(req)
      let input: Record<string, unknown>
      try {
        input = body.length ? (JSON.parse(body.toString('utf8')) as Record<string, unknown>) : {}
      } catch {
        return fail(res, 400, 'SerializationException', 'the request body is not JSON')
      }
      if (target === 'AWSEvents.DescribeEventBus') {
        const name = busName(input.Name as string | undefined)
        if (!buses.has(name)) return fail(res, 400, 'ResourceNotFoundException', `Event bus ${name} does not exist.`)
        return send(res, 200, { Name: name, Arn: `arn:aws:events:${region}:${account}:event-bus/${name}` })
      }
      if (target !== 'AWSEvents.PutEvents') return fail(res, 400, 'UnknownOperationException', `unknown operation ${target}`)

      const entries = (Array.isArray(input.Entries) ? input.Entries : []) as ReceivedEntry[]
      const bytes = entries.reduce((n, e) => n + entrySize(e), 0)
      requests.push({ entries, bytes })
      const fault = requestHook?.(requests.length, entries)
      if (fault) {
        if ('drop' in fault) {
          req.socket.destroy()
          return
        }
        return fail(res, fault.status, fault.type, fault.message ?? 'Rate exceeded')
      }
      if (entries.length < 1 || entries.length > 10) {
        return fail(
          res,
          400,
          'ValidationException',
          `1 validation error detected: Value at 'entries' failed to satisfy constraint: Member must have length ${entries.length < 1 ? 'greater than or equal to 1' : 'less than or equal to 10'}`,
        )
      }
      if (bytes > maxRequestBytes) return fail(res, 400, 'ValidationException', 'Total size of the entries in the request is over the limit.')
      for (const entry of entries) {
        const name = busName(entry.EventBusName)
        if (!buses.has(name)) return fail(res, 400, 'ResourceNotFoundException', `Event bus ${name} does not exist.`)
      }
      let failed = 0
      const results = entries.map((entry) => {
        const key = entry.Detail ?? ''
        const count = (seen.get(key) ?? 0) + 1
        seen.set(key, count)
        const error = entryError(entry) ?? entryHook?.(entry, count)
        if (error) {
          failed++
          return { ErrorCode: error.errorCode, ErrorMessage: error.errorMessage ?? error.errorCode }
        }
        const EventId = randomUUID()
        const name = busName(entry.EventBusName)
        let list = events.get(name)
        if (!list) events.set(name, (list = []))
        list.push({ ...entry, EventId })
        return { EventId }
      })
      return send(res, 200, { FailedEntryCount: failed, Entries: results })
    } catch (error) {
      if (!res.headersSent) fail(res, 500, 'InternalException', `test server: ${(error as Error).message}`)
    }
  })
  const listening = await listenLocal(server)
  return {
    endpoint: listening.url,
    events,
    requests,
    injectEntry(hook) {
      entryHook = hook
      seen.clear()
    },
    injectRequest(hook) {
      requestHook = hook
    },
    close: listening.close,
  }
}
