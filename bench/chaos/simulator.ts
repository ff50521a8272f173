import type { FaultSpec, Latency } from '../../src/simulator/control-schemas.ts'
import type { SimulatorCounters } from '../../src/simulator/counters.ts'
import { findFreePort } from '../children.ts'
import { simControlRequest } from '../sim-control.ts'
import { spawnTracked, type Tracked } from './processes.ts'

// The AiFi simulator as a process of its own, and its `/__sim/` controls over HTTP (src/simulator/control-endpoints.ts).

export interface SessionState {
  sessionId: string
  metadata: Record<string, unknown> & { events?: Array<{ eventId: string }> }
}

export type SimClient = ReturnType<typeof createSimClient>

export async function startSimulator(token: string): Promise<{ process: Tracked; url: string }> {
  const port = await findFreePort()
  const args = ['--import', 'tsx', 'src/simulator/main.ts', '--port', String(port), '--host', '127.0.0.1', '--token', token]
  const tracked = spawnTracked('simulator', process.execPath, args, {})
  const line = await tracked.waitForLine((text) => text.includes('listening on'))
  return { process: tracked, url: /listening on (http:\/\/\S+)/.exec(line)![1]! }
}

export function createSimClient(url: string) {
  const send = simControlRequest(url)

  return {
    /** A session with a few events of AiFi's own, next to one retailer key. */
    createSession: async (): Promise<SessionState> => {
      const events = Array.from({ length: 3 }, (_, i) => ({ eventId: `seed-${i}-${Math.random().toString(36).slice(2)}`, metadata: { i } }))
      return (await send('POST', 'sessions', { metadata: { events, channel: 'app' } })) as SessionState
    },
    readSession: async (sessionId: string) => (await send('GET', `sessions/${encodeURIComponent(sessionId)}`)) as SessionState,
    appendEvent: async (sessionId: string, eventId: string) => void (await send('POST', `sessions/${encodeURIComponent(sessionId)}/events`, { eventId, metadata: { chaos: true } })),
    injectFault: async (fault: FaultSpec) => void (await send('POST', 'faults', fault)),
    setLatency: async (latency: Latency) => void (await send('POST', 'latency', latency)),
    counters: async () => (await send('GET', 'counters')) as SimulatorCounters,
  }
}
