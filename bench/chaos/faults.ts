import { setTimeout as sleep } from 'node:timers/promises'
import type { ChaosRedis } from './redis.ts'
import type { ReplicaPool } from './replicas.ts'
import type { SimClient } from './simulator.ts'

// The faults of a run, one every `faultEveryMs`, in this order and round again: replicas killed, Redis restarted
// (its data lost) and paused, and AiFi failing writes and reads in each way the simulator can.

interface FaultTargets {
  sim: SimClient
  redis: ChaosRedis
  replicas: ReplicaPool
}

type Fault = { name: string; act: (targets: FaultTargets) => Promise<string | void> }

const FAULTS: Fault[] = [
  { name: 'replica SIGKILL', act: async ({ replicas }) => describeKill(await replicas.killOne()) },
  { name: 'AiFi 503 on writes', act: ({ sim }) => sim.injectFault({ op: 'write', kind: 'status', status: 503, count: 3, headers: { 'retry-after': '1' } }) },
  { name: 'Redis CLIENT PAUSE 2 s', act: ({ redis }) => redis.pauseClients(2_000) },
  { name: 'AiFi 500 after applying a write', act: ({ sim }) => sim.injectFault({ op: 'write', kind: 'status', status: 500, count: 2, applyFirst: true }) },
  { name: 'AiFi latency 1.5 s for 3 s', act: ({ sim }) => withLatency(sim, 1_500, 3_000) },
  { name: 'Redis restart (SIGKILL, data lost)', act: ({ redis }) => redis.restart() },
  { name: 'AiFi write timeout (hang)', act: ({ sim }) => sim.injectFault({ op: 'write', kind: 'hang', count: 1 }) },
  { name: 'AiFi 500 on reads', act: ({ sim }) => sim.injectFault({ op: 'read', kind: 'status', status: 500, count: 3 }) },
  { name: 'replica SIGKILL', act: async ({ replicas }) => describeKill(await replicas.killOne()) },
  { name: 'AiFi reset on a write', act: ({ sim }) => sim.injectFault({ op: 'write', kind: 'reset', count: 2 }) },
  { name: 'Redis DEBUG SLEEP 2', act: ({ redis }) => redis.sleep(2) },
  { name: 'AiFi reset after applying a write', act: ({ sim }) => sim.injectFault({ op: 'write', kind: 'reset', count: 1, applyFirst: true }) },
  { name: 'AiFi latency 2.5 s (past UPSTREAM_TIMEOUT_MS) for 2 s', act: ({ sim }) => withLatency(sim, 2_500, 2_000) },
]

export interface FaultRecord {
  atMs: number
  name: string
  detail?: string
  error?: string
}

/**
 * Runs the schedule until `stopped()`, a fault at a time (the next waits for the last to finish); resolves with
 * what was done, when. A fault that fails (a restart that did not come up) is recorded, and the run goes on.
 */
export async function runFaults(targets: FaultTargets, everyMs: number, lastAtMs: number, stopped: () => boolean): Promise<FaultRecord[]> {
  const done: FaultRecord[] = []
  const started = performance.now()
  for (let i = 0; ; i++) {
    const dueAt = (i + 1) * everyMs
    if (dueAt > lastAtMs) break
    await sleep(Math.max(0, dueAt - (performance.now() - started)))
    if (stopped()) break
    const fault = FAULTS[i % FAULTS.length]!
    const record: FaultRecord = { atMs: Math.round(performance.now() - started), name: fault.name }
    try {
      const detail = await fault.act(targets)
      if (detail) record.detail = detail
    } catch (error) {
      record.error = error instanceof Error ? error.message.split('\n')[0] : String(error)
    }
    done.push(record)
  }
  return done
}

function describeKill({ killed, started }: { killed: number; started: number }): string {
  return `replica-${killed} killed, replica-${started} started`
}

async function withLatency(sim: SimClient, ms: number, forMs: number): Promise<void> {
  await sim.setLatency({ op: 'all', ms })
  await sleep(forMs)
  await sim.setLatency({ op: 'all', ms: 0 })
}
