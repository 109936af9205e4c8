import { connect, type Socket } from 'node:net'

/** The connection settings `postgres()` hands to its `socket` option. */
interface SocketOptions {
  readonly host: readonly string[]
  readonly port: readonly number[]
  readonly path?: string | false
}

const nextHost = new WeakMap<SocketOptions, number>()

/** A socket made by {@link postgresSocket}, with when it began waiting for an answer. */
interface WatchedSocket {
  readonly socket: Socket
  /** Set by a write while nothing was outstanding, cleared by the next byte received. */
  waitingSince: number | undefined
}

// The sockets of each client made with postgresSocket, keyed by the client's options object (the
// one `postgres()` hands to `socket` and shows as `sql.options`): `timeoutMs` closes the stalled ones.
const socketsOf = new WeakMap<object, Set<WatchedSocket>>()

/**
 * A `socket` option for `postgres()` that turns Nagle's algorithm off (TCP_NODELAY), as libpq does.
 * Without it, the `postgres` client's small messages (the end of a COPY, a COMMIT) wait for the
 * server's delayed ACK, about 40 ms each: a COPY per batch becomes 20 times slower. Hosts are tried
 * in turn like the client does itself; a unix socket `path` is honoured.
 *
 * @example
 * const sql = postgres(url, { socket: postgresSocket })
 */
export function postgresSocket(options: SocketOptions): Socket {
  if (options.path) return connect({ path: options.path })
  const i = nextHost.get(options) ?? 0
  nextHost.set(options, (i + 1) % options.host.length)
  const host = options.host[i]!
  const port = options.port[i] ?? options.port[0]!
  // The client reads `host` off its socket for TLS (the server name checked against the certificate).
  const socket = Object.assign(connect({ host, port, noDelay: true }), { host, port })
  watch(options, socket)
  return socket
}

/** Tracks whether a socket waits for an answer: a write starts the wait, any byte received ends it. */
function watch(options: SocketOptions, socket: Socket): void {
  let set = socketsOf.get(options)
  if (!set) socketsOf.set(options, (set = new Set()))
  const watched: WatchedSocket = { socket, waitingSince: undefined }
  set.add(watched)
  const write = socket.write
  socket.write = function watchedWrite(this: Socket, ...args: unknown[]) {
    watched.waitingSince ??= Date.now()
    return (write as (...a: unknown[]) => boolean).apply(this, args)
  } as Socket['write']
  socket.on('data', () => (watched.waitingSince = undefined))
  socket.once('close', () => set.delete(watched))
}

/**
 * Closes the sockets of a client that have waited `ms` or longer for an answer: the client fails
 * the statements sent on them with ETIMEDOUT and opens new connections for the next ones.
 */
export function closeStalled(options: object, ms: number): number {
  let closed = 0
  const now = Date.now()
  for (const w of socketsOf.get(options) ?? []) {
    if (w.waitingSince === undefined || now - w.waitingSince < ms) continue
    closed++
    w.socket.destroy(Object.assign(new Error(`no answer from PostgreSQL within ${ms} ms`), { code: 'ETIMEDOUT' }))
  }
  return closed
}
