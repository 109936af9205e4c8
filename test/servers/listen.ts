import type { Server as NetServer, Socket } from 'node:net'

/** A test server listening on 127.0.0.1, with its connections tracked so it can stop at once. */
export interface Listening {
  readonly port: number
  /** `http://127.0.0.1:<port>` */
  readonly url: string
  /** Connections open now. */
  readonly sockets: ReadonlySet<Socket>
  /** Drops every connection and stops listening. */
  close(): Promise<void>
  /** Stops as {@link close} does, waits `downMs` (refusing connections), then listens on the same port again. */
  restart(downMs?: number): Promise<void>
}

/**
 * Listens on 127.0.0.1 (a free port unless given) and tracks the server's connections: the listen
 * and socket bookkeeping every test server shares (HTTP servers, TCP proxies, the TDS server).
 *
 * @example
 * const listening = await listenLocal(createServer(handler))
 * client = new Client({ node: listening.url })
 */
export async function listenLocal(server: NetServer, port = 0): Promise<Listening> {
  const sockets = new Set<Socket>()
  server.on('connection', (socket: Socket) => {
    sockets.add(socket)
    socket.on('close', () => sockets.delete(socket))
  })
  const listen = (at: number) =>
    new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(at, '127.0.0.1', () => {
        server.off('error', reject)
        resolve()
      })
    })
  const close = () =>
    new Promise<void>((resolve) => {
      for (const s of sockets) s.destroy()
      server.close(() => resolve())
    })
  await listen(port)
  const address = server.address()
  if (!address || typeof address === 'string') throw new Error('test server: no TCP address')
  const bound = address.port
  return {
    port: bound,
    url: `http://127.0.0.1:${bound}`,
    sockets,
    close,
    async restart(downMs = 0) {
      await close()
      if (downMs > 0) await new Promise((r) => setTimeout(r, downMs))
      await listen(bound)
    },
  }
}
