import { EventEmitter, once } from 'node:events'
import { connect, createServer, type Socket } from 'node:net'
import type { TestContext } from 'node:test'

// A TCP forwarder on 127.0.0.1 for fault tests: a process reaches its target (a Redis, say) through it, and the
// test stalls or cuts that one path while every other client still reaches the target directly.

export interface TcpForwarder {
  /** The port it listens on: point the process under test here instead of at the target. */
  port: number
  /** Stops forwarding bytes both ways; sockets stay open, bytes are held in order and delivered on resume(). */
  stall(): void
  resume(): void
  /** Destroys every current connection and closes each new one at once, until restore(). */
  cut(): void
  restore(): void
  /** Resolves when bytes are held by a stall (already held, or the next to arrive). */
  held(): Promise<void>
  /** Connections forwarded right now. */
  connectionCount(): number
  close(): Promise<void>
}

interface Pair {
  client: Socket
  upstream: Socket
  /** Bytes held while stalled, per direction, in arrival order. */
  toUpstream: Buffer[]
  toClient: Buffer[]
}

/** Listens on a free 127.0.0.1 port and pipes each connection to `targetPort` on 127.0.0.1; closed with the test. */
export async function startTcpForwarder(t: TestContext, targetPort: number): Promise<TcpForwarder> {
  const pairs = new Set<Pair>()
  const events = new EventEmitter()
  let stalled = false
  let cutOff = false

  const server = createServer((client) => {
    if (cutOff) return void client.destroy()
    const pair: Pair = { client, upstream: connect({ host: '127.0.0.1', port: targetPort }), toUpstream: [], toClient: [] }
    pairs.add(pair)
    forward(pair.client, pair.upstream, pair.toUpstream)
    forward(pair.upstream, pair.client, pair.toClient)
    const end = () => {
      pairs.delete(pair)
      pair.client.destroy()
      pair.upstream.destroy()
    }
    for (const socket of [pair.client, pair.upstream]) {
      socket.on('error', end)
      socket.on('close', end)
    }
  })

  function forward(from: Socket, to: Socket, heldBytes: Buffer[]): void {
    from.on('data', (chunk: Buffer) => {
      if (!stalled) return void to.write(chunk)
      heldBytes.push(chunk)
      events.emit('held')
    })
  }

  function heldCount(): number {
    let count = 0
    for (const pair of pairs) count += pair.toUpstream.length + pair.toClient.length
    return count
  }

  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }

  const destroyAll = () => {
    for (const pair of pairs) {
      pair.client.destroy()
      pair.upstream.destroy()
    }
    pairs.clear()
  }
  const close = async () => {
    if (!server.listening) return
    destroyAll()
    server.close()
    await once(server, 'close')
  }
  t.after(close)

  return {
    port,
    stall: () => {
      stalled = true
    },
    resume: () => {
      stalled = false
      for (const pair of pairs) {
        for (const chunk of pair.toUpstream.splice(0)) pair.upstream.write(chunk)
        for (const chunk of pair.toClient.splice(0)) pair.client.write(chunk)
      }
    },
    cut: () => {
      cutOff = true
      destroyAll()
    },
    restore: () => {
      cutOff = false
    },
    held: () => (heldCount() > 0 ? Promise.resolve() : once(events, 'held').then(() => undefined)),
    connectionCount: () => pairs.size,
    close,
  }
}
