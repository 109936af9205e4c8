import { createServer, connect, type AddressInfo, type Server, type Socket } from 'node:net'

/**
 * A TCP proxy that injects connection faults into a byte stream it does not parse (the PostgreSQL
 * wire, for example): each chunk the client sends is shown to the armed rules, and the first that
 * matches drops the connection before the chunk reaches the server, or right after it (the server
 * acts on it, the client never hears back). It can also refuse new connections, like a server
 * that is down.
 */
export interface TcpFault {
  /** Which client chunk triggers the fault. */
  readonly when: (chunk: Buffer) => boolean
  /** `before`: the server never sees the chunk. `after`: it does; its answers never reach the client. */
  readonly drop: 'before' | 'after'
  /** With `after`: how long the server gets to act on the chunk before both sockets close. @default 200 */
  readonly afterMs?: number
  /** Once the fault fired, refuse every new connection until {@link TcpProxy.accept} is called. */
  readonly thenRefuse?: boolean
}

export interface TcpProxy {
  readonly port: number
  /** Arms a fault for the next matching chunk (it fires once). */
  arm(fault: TcpFault): void
  /** How many faults have fired. */
  readonly fired: number
  /** Accept connections again after `thenRefuse`. */
  accept(): void
  close(): Promise<void>
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const armed: TcpFault[] = []
  const sockets = new Set<Socket>()
  let fired = 0
  let refusing = false
  const server: Server = createServer((client) => {
    if (refusing) {
      client.destroy()
      return
    }
    const upstream = connect({ host: target.host, port: target.port, noDelay: true })
    client.setNoDelay(true)
    sockets.add(client).add(upstream)
    let mute = false
    const cut = () => {
      client.destroy()
      upstream.destroy()
    }
    client.on('data', (chunk: Buffer) => {
      const i = armed.findIndex((f) => f.when(chunk))
      if (i === -1) {
        upstream.write(chunk)
        return
      }
      const [fault] = armed.splice(i, 1)
      fired++
      if (fault!.thenRefuse) refusing = true
      if (fault!.drop === 'before') return cut()
      mute = true
      upstream.write(chunk)
      setTimeout(cut, fault!.afterMs ?? 200)
    })
    upstream.on('data', (chunk: Buffer) => {
      if (!mute) client.write(chunk)
    })
    for (const s of [client, upstream]) {
      s.on('error', cut)
      s.on('close', () => {
        sockets.delete(s)
        cut()
      })
    }
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    port: (server.address() as AddressInfo).port,
    arm: (fault) => void armed.push(fault),
    get fired() {
      return fired
    },
    accept: () => {
      refusing = false
    },
    close: async () => {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
