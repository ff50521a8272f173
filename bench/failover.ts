import { setTimeout as sleep } from 'node:timers/promises'
import { request } from 'undici'
import type { ProxyProcess } from './children.ts'
import { SESSIONS_PATH } from './load-spec.ts'
import type { SimControl } from './sim-control.ts'

// Scenario 6, failover: a replica is killed (SIGKILL) while it holds a session's lock, its write hanging at AiFi,
// and another replica is sent a patch of that session. The lock's lease (LOCK_TTL_MS) bounds how long that patch
// waits; failover time runs from the kill to the other replica's answer.

const WRITE_SEEN_WITHIN_MS = 10_000

export interface FailoverResult {
  lockTtlMs: number
  failoverMs: number
  /** The surviving replica's answer, and whether its key is in the session afterwards. */
  status: number
  written: boolean
}

export async function measureFailover(
  [doomed, survivor]: ProxyProcess[],
  options: { authorization: string; lockTtlMs: number; latencyMs: number },
  sim: SimControl,
): Promise<FailoverResult> {
  await sim.setLatency(options.latencyMs)
  const sessionId = await sim.createSession()
  await sim.resetCounters()
  // The simulator's own fault: the next write is never answered, so the doomed replica holds the lock until it dies.
  await sim.injectFault({ op: 'write', kind: 'hang', count: 1 })
  sendPatch(doomed!, options.authorization, sessionId, { doomed: true }).catch(() => {}) // killed before any answer
  await waitForWrite(sim, sessionId)
  doomed!.child.kill('SIGKILL')
  const killedAt = performance.now()
  const status = await sendPatch(survivor!, options.authorization, sessionId, { served: true })
  const failoverMs = performance.now() - killedAt
  const written = (await sim.metadataOf(sessionId)).served === true
  return { lockTtlMs: options.lockTtlMs, failoverMs, status, written }
}

async function sendPatch(replica: ProxyProcess, authorization: string, sessionId: string, metadata: Record<string, unknown>): Promise<number> {
  const response = await request(`${replica.url}${SESSIONS_PATH}/${encodeURIComponent(sessionId)}`, {
    method: 'PATCH',
    headers: { authorization, 'content-type': 'application/json' },
    body: JSON.stringify({ metadata }),
  })
  await response.body.dump()
  return response.statusCode
}

/** The simulator announces nothing: its request log says when the doomed replica's PATCH has arrived. */
async function waitForWrite(sim: SimControl, sessionId: string): Promise<void> {
  const path = `${SESSIONS_PATH}/${encodeURIComponent(sessionId)}`
  const giveUpAt = performance.now() + WRITE_SEEN_WITHIN_MS
  while (!(await sim.counters()).log.some((call) => call.method === 'PATCH' && call.url.split('?', 1)[0] === path)) {
    if (performance.now() > giveUpAt) throw new Error(`no PATCH of ${sessionId} reached the simulator within ${WRITE_SEEN_WITHIN_MS} ms`)
    await sleep(5)
  }
}
