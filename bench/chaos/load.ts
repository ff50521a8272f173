import { randomUUID } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import type { ReplicaPool } from './replicas.ts'
import type { SimClient } from './simulator.ts'

// The load: workers sending PATCHes round robin over the live replicas, each setting one key of its own with an
// Idempotency-Key, to a pool of sessions (a few hot, many cold); and AiFi's feeds appending events meanwhile.

const SESSIONS_PATH = '/api/admin/v2/sessions'

export interface Answer {
  requestId: string
  sessionId: string
  key: string
  replica: number
  ms: number
  /** When it was sent, in ms since the load began: to line it up with the faults. */
  atMs: number
  /** null when no HTTP answer came: the connection dropped, or the run gave up waiting. */
  status: number | null
  /** `applied`/`noop` for a 2xx, the error's `type`, or `connection dropped` / `no answer`. */
  type: string
  /** Whether the run had killed the replica by the time the answer (or the drop) came. */
  replicaKilled: boolean
}

export interface LoadPlan {
  sessions: { hot: string[]; cold: string[] }
  workers: number
  authorization: string
  /** The client gives up on a request after this long: any later answer is a finding anyway. */
  clientTimeoutMs: number
}

/** A hot session half the time, else a cold one. */
export function pickSession(sessions: LoadPlan['sessions']): string {
  const pool = Math.random() < 0.5 ? sessions.hot : sessions.cold
  return pool[Math.floor(Math.random() * pool.length)]!
}

/** Runs the workers until `stopped()`; resolves with every answer once each worker's last request has ended. */
export async function runLoad(plan: LoadPlan, replicas: ReplicaPool, stopped: () => boolean): Promise<Answer[]> {
  const answers: Answer[] = []
  const epoch = performance.now()
  let sent = 0
  async function work(): Promise<void> {
    while (!stopped()) {
      const replica = replicas.pick()
      if (replica === undefined) {
        await sleep(50)
        continue
      }
      const atMs = performance.now() - epoch
      const answer = await sendPatch(plan, replica.port, pickSession(plan.sessions), `chaos-${++sent}`)
      answer.atMs = atMs
      answer.replica = replica.serial
      answer.replicaKilled = replica.killedByRun
      answers.push(answer)
      // A caller told to come back later does, but not in a tight loop: that would only measure the loop.
      if (answer.status === 503 || answer.status === null) await sleep(answer.status === null ? 50 : 200)
    }
  }
  await Promise.all(Array.from({ length: plan.workers }, work))
  return answers
}

async function sendPatch(plan: LoadPlan, port: number, sessionId: string, requestId: string): Promise<Answer> {
  const key = `k_${randomUUID()}`
  const started = performance.now()
  const answer: Answer = { requestId, sessionId, key, replica: 0, ms: 0, atMs: 0, status: null, type: 'connection dropped', replicaKilled: false }
  try {
    const response = await fetch(`http://127.0.0.1:${port}${SESSIONS_PATH}/${encodeURIComponent(sessionId)}`, {
      method: 'PATCH',
      headers: {
        authorization: plan.authorization,
        'content-type': 'application/json',
        'idempotency-key': randomUUID(),
        'x-request-id': requestId,
      },
      body: JSON.stringify({ metadata: { [key]: Number(requestId.slice('chaos-'.length)) } }),
      signal: AbortSignal.timeout(plan.clientTimeoutMs),
    })
    const text = await response.text()
    answer.status = response.status
    answer.type = response.ok ? (response.headers.get('x-merge-result') ?? 'ok') : errorTypeOf(text)
  } catch (error) {
    if (error instanceof DOMException && error.name === 'TimeoutError') answer.type = 'no answer'
  }
  answer.ms = performance.now() - started
  return answer
}

function errorTypeOf(text: string): string {
  try {
    const type = (JSON.parse(text) as { type?: unknown }).type
    return typeof type === 'string' ? type : 'no type'
  } catch {
    return 'not JSON'
  }
}

/** Appends an event to a session now and then, as AiFi's feeds do; resolves with the ids appended. */
export async function appendEvents(sim: SimClient, sessions: LoadPlan['sessions'], everyMs: number, stopped: () => boolean): Promise<Array<{ sessionId: string; eventId: string }>> {
  const appended: Array<{ sessionId: string; eventId: string }> = []
  while (!stopped()) {
    await sleep(everyMs)
    const sessionId = pickSession(sessions)
    const eventId = `feed-${appended.length + 1}-${randomUUID().slice(0, 8)}`
    await sim.appendEvent(sessionId, eventId)
    appended.push({ sessionId, eventId })
  }
  return appended
}
