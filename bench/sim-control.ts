import { request } from 'undici'
import type { FaultSpec } from '../src/simulator/control-schemas.ts'
import type { SimulatorCounters } from '../src/simulator/simulator.ts'

// The simulator's `/__sim/` controls, driven over HTTP from the orchestrator's process.

export type SimControl = ReturnType<typeof createSimControl>

/** Metadata like AiFi's: a few events from its feeds next to the retailer's own keys. */
function typicalMetadata(): Record<string, unknown> {
  const events = Array.from({ length: 3 }, (_, i) => ({ eventId: `evt-${i}`, metadata: { source: 'thirdPartyDevice', i } }))
  return { events, channel: 'app', loyalty: { tier: 'silver', points: 120 } }
}

/** One `/__sim/` control call: its JSON answer, or an error with the status. */
export function simControlRequest(url: string) {
  return async function send(method: 'GET' | 'POST', path: string, body?: unknown): Promise<unknown> {
    const response = await request(`${url}/__sim/${path}`, {
      method,
      headers: { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    })
    const text = await response.body.text()
    if (response.statusCode >= 300) throw new Error(`simulator ${method} ${path}: ${response.statusCode} ${text}`)
    return text === '' ? undefined : JSON.parse(text)
  }
}

export function createSimControl(url: string) {
  const send = simControlRequest(url)

  /** A new session, with typical metadata unless `metadata` is given. */
  async function createSession(metadata: Record<string, unknown> = typicalMetadata()): Promise<string> {
    const session = (await send('POST', 'sessions', { metadata })) as { sessionId: string }
    return session.sessionId
  }

  return {
    createSession,
    createSessions: (count: number) => Promise.all(Array.from({ length: count }, () => createSession())),
    metadataOf: async (sessionId: string) =>
      ((await send('GET', `sessions/${encodeURIComponent(sessionId)}`)) as { metadata: Record<string, unknown> }).metadata,
    setLatency: (ms: number) => send('POST', 'latency', { op: 'all', ms }),
    setRateLimit: (rps: number | null) => send('POST', 'rate-limit', { rps }),
    injectFault: (fault: FaultSpec) => send('POST', 'faults', fault),
    counters: async () => (await send('GET', 'counters')) as SimulatorCounters,
    resetCounters: () => send('POST', 'counters/reset'),
  }
}
