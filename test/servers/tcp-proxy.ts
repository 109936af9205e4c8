import { createServer, connect, type Server, type Socket } from 'node:net'
import { listenLocal } from './listen.js'

/**
 * A TCP proxy that injects connection faults into a byte stream it does not parse (the PostgreSQL
 * wire, for example): each chunk the client sends is shown to the armed rules, and the first that
 * matches drops the connection before the chunk reaches the server, or right after it (the server
 * acts on it, the client never hears back), or freezes the connection without closing it (a
 * network partition). It can also refuse new connections, like a server that is down.
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
  /**
   * Instead of closing the connection, freeze it (a network partition, a hung middlebox): nothing
   * more passes either way, and both sockets stay open until the client closes its end. With
   * `before` the server never sees the chunk; with `after` it does, and its answer never arrives.
   */
  readonly stall?: boolean
}

export interface TcpProxy {
  readonly port: number
  /** Arms a fault for the next matching chunk (it fires once). */
  arm(fault: TcpFault): void
  /** How many faults have fired. */
  readonly fired: number
  /** Connections frozen by a `stall` fault and still open. */
  readonly stalled: number
  /** Accept connections again after `thenRefuse`. */
  accept(): void
  close(): Promise<void>
}

export async function startTcpProxy(target: { host: string; port: number }): Promise<TcpProxy> {
  const armed: TcpFault[] = []
  const sockets = new Set<Socket>()
  let fired = 0
  let refusing = false
  const frozen = new Set<Socket>()
  const server: Server = createServer((client) => {
    if (refusing) {
      client.destroy()
      return
    }
    const upstream = connect({ host: target.host, port: target.port, noDelay: true })
    client.setNoDelay(true)
    sockets.add(client).add(upstream)
    let mute = false
    let stalled = false
    const cut = () => {
      frozen.delete(client)
      client.destroy()
      upstream.destroy()
    }
    client.on('data', (chunk: Buffer) => {
      if (stalled) return
      const i = armed.findIndex((f) => f.when(chunk))
      if (i === -1) {
        upstream.write(chunk)
        return
      }
      const [fault] = armed.splice(i, 1)
      fired++
      if (fault!.thenRefuse) refusing = true
      if (fault!.stall) {
        stalled = mute = true
        frozen.add(client)
        if (fault!.drop === 'after') upstream.write(chunk)
        return
      }
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
  const listening = await listenLocal(server)
  return {
    port: listening.port,
    arm: (fault) => void armed.push(fault),
    get fired() {
      return fired
    },
    get stalled() {
      return frozen.size
    },
    accept: () => {
      refusing = false
    },
    close: async () => {
      // The upstream half of each pair is not the server's own connection: destroy it too.
      for (const s of sockets) s.destroy()
      await listening.close()
    },
  }
}
