import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import { setMaxListeners } from 'node:events'
import type { AddressInfo } from 'node:net'
import { handleApiRequest, type ApiDeps } from './api-endpoints.ts'
import { appendedEventSchema, faultSpecSchema, latencySchema, rateLimitSchema } from './control-schemas.ts'
import { CONTROL_PREFIX, handleControlRequest, type SimulatorControls } from './control-endpoints.ts'
import { createCounterRecorder } from './counters.ts'
import { createFaultQueues } from './fault-queues.ts'
import { sendAnswer } from './http-io.ts'
import { seedSessionFields } from './seed-sessions.ts'
import { createSessionStore } from './session-store.ts'
import { createTokenBucket } from './token-bucket.ts'

export { DEMO_SESSION_ID } from './seed-sessions.ts'
export type { SimulatorCounters } from './counters.ts'

export interface SimulatorOptions {
  /** 0 (the default) picks a free port. */
  port?: number
  host?: string
  token?: string
  /** AiFi answers 503 above about 20 requests/second; `null` (the default) means unlimited. */
  rateLimitRps?: number | null
  /** Start with three sample sessions whose metadata already holds `events` (default true). */
  seed?: boolean
}

export interface Simulator extends SimulatorControls {
  /** Origin without a trailing slash, e.g. `http://127.0.0.1:43123`. */
  url: string
  port: number
  token: string
  seededSessionIds: string[]
  /** Stops listening and ends every open socket, hung requests included. */
  close(): Promise<void>
}

/** An in-memory stand-in for AiFi's session list and PATCH endpoints (the two the proxy calls), on a real socket. */
export async function startSimulator(options: SimulatorOptions = {}): Promise<Simulator> {
  const host = options.host ?? '127.0.0.1'
  const token = options.token ?? 'sim-token'
  const store = createSessionStore()
  const seeded = options.seed === false ? [] : seedSessionFields.map((fields) => store.create(fields))
  const seededSessionIds = seeded.map((session) => String(session.sessionId))
  const latencyMs = { read: 0, write: 0 }
  const limiter = createTokenBucket(rateLimitSchema.parse({ rps: options.rateLimitRps ?? null }).rps)
  const faults = createFaultQueues()
  const counters = createCounterRecorder()
  const closing = new AbortController()
  // Every request waiting out injected latency listens for close(); hundreds at once is normal in a benchmark.
  setMaxListeners(0, closing.signal)

  // Controls are validated here too, so a test's typo fails loudly instead of silently doing nothing.
  const controls: SimulatorControls = {
    createSession: (fields = {}) => store.create(fields),
    getSession: (sessionId) => store.get(sessionId),
    appendEvent: (sessionId, event = {}) => store.appendEvent(sessionId, appendedEventSchema.parse(event)),
    injectFault: (fault) => faults.inject(faultSpecSchema.parse(fault)),
    setLatency(latency) {
      const { op, ms } = latencySchema.parse(latency)
      if (op !== 'write') latencyMs.read = ms
      if (op !== 'read') latencyMs.write = ms
    },
    setRateLimit: (rps) => limiter.setRate(rateLimitSchema.parse({ rps }).rps),
    counters: () => counters.snapshot(),
    resetCounters: () => counters.reset(),
  }
  const apiDeps: ApiDeps = { store, faults, latencyMs, limiter, counters, token, closing: closing.signal }

  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    try {
      if ((req.url ?? '').startsWith(CONTROL_PREFIX)) await handleControlRequest(req, res, controls)
      else await handleApiRequest(req, res, apiDeps)
    } catch {
      // The client went away mid-request, or close() cut a latency wait short: nobody is waiting for an
      // answer. Anything else is a simulator bug, and a bare 500 makes it visible without crashing the tests.
      if (res.headersSent || res.destroyed) res.destroy()
      else sendAnswer(res, { status: 500 })
    }
  }

  const server = createServer((req, res) => void route(req, res))
  await listen(server, options.port ?? 0, host)
  const { port } = server.address() as AddressInfo
  let closed: Promise<void> | undefined

  return {
    ...controls,
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    port,
    token,
    seededSessionIds,
    close() {
      closed ??= shutDown(server, closing)
      return closed
    },
  }
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
}

async function shutDown(server: Server, closing: AbortController): Promise<void> {
  closing.abort()
  const stopped = new Promise<void>((resolve) => server.close(() => resolve()))
  // Hung requests and keep-alive sockets would otherwise hold close() open until the client gave up.
  server.closeAllConnections()
  await stopped
}
