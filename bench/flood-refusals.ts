import { runJsonChild, startBareRefuser, startRedisServer, stop, type ProxyProcess, type RedisServerProcess, type StartProxy } from './children.ts'
import type { FloodRun, FloodSpec } from './flood-refusals-spec.ts'
import { AIFI_RPS } from './rate-limit.ts'
import type { SimControl } from './sim-control.ts'

// Scenario 9, flood refusals: the claim of the issue "Many callers, one quota" (item 4) that a patch whose turn
// cannot come before its deadline is answered at once with 503 E_QUOTA_EXHAUSTED and a Retry-After, while the
// patches accepted are about what the quota serves before their deadline. 400 patches to 400 sessions at once,
// with AIFI_MAX_RPS=20 and REQUEST_DEADLINE_MS=1000: about ten cycles of two calls, plus the burst, fit in time.
// Run on one process, then on three replicas on one Redis, the patches round robin over them; three measured floods
// each, after warm-up floods, judged by the median.

export const FLOOD_LATENCY_MS = 20
export const FLOOD_DEADLINE_MS = 1_000
const FLOOD_PATCHES = 400
/**
 * Unmeasured floods before the measured ones, for each proxy the flood is spread over (so 6 on three replicas): each
 * proxy has then answered 800 patches, its refusal path is optimized and every connection used.
 */
const WARMUP_FLOODS_PER_PROXY = 2
/** The proxy's burst refills in 200 ms (4 calls at 50 ms), the simulator's bucket of 20 in 1 s; 2 s leaves both full. */
const RECOVERY_MS = 2_000
const FLOOD_REPLICAS = 3
/** Each topology is judged by the median of these: the slowest answer of one flood moves by ±30% from run to run. */
const MEASURED_FLOODS = 3
/**
 * The load process works about 20 s on three replicas (sessions, connections, nine floods, three pauses); the rest
 * is for a busy machine.
 */
const LOAD_BUDGET_MS = 60_000

export interface FloodRefusalsResult {
  aifiRps: number
  latencyMs: number
  deadlineMs: number
  patches: number
  warmupFloodsPerProxy: number
  recoveryMs: number
  replicas: number
  measuredFloods: number
  /** The same floods against bench/bare-refuser.ts: what the machine takes to answer them before the proxy does anything. */
  floor: FloodTopology
  one: FloodTopology
  three: FloodTopology
}

export interface FloodTopology {
  /** The measured flood whose slowest refusal is the median of the floods'. */
  median: FloodRun
  /** Every measured flood, in the order sent. */
  runs: FloodRun[]
}

export async function measureFloodRefusals(startProxy: StartProxy, simulatorUrl: string, authorization: string, sim: SimControl): Promise<FloodRefusalsResult> {
  const env = { AIFI_MAX_RPS: String(AIFI_RPS), REQUEST_DEADLINE_MS: String(FLOOD_DEADLINE_MS) }
  const spec = { simulatorUrl, authorization, recoveryMs: RECOVERY_MS, patches: FLOOD_PATCHES, measuredFloods: MEASURED_FLOODS }
  await sim.setLatency(FLOOD_LATENCY_MS)
  // AiFi's own limit at the proxy's: a proxy that sent above the quota would show as the simulator's 503s.
  await sim.setRateLimit(AIFI_RPS)
  let redis: RedisServerProcess | undefined
  try {
    console.error('bench: 9. flood refusals on a bare server that answers every patch 503 at once (the floor)')
    const floor = await runFlood([await startBareRefuser()], spec)
    console.error('bench: 9. flood refusals on one process')
    const one = await runFlood([await startProxy(env)], spec)
    redis = await startRedisServer()
    console.error(`bench: 9. flood refusals on ${FLOOD_REPLICAS} replicas`)
    const replicaEnv = { ...env, REDIS_URL: redis.url }
    const three = await runFlood(await Promise.all(Array.from({ length: FLOOD_REPLICAS }, () => startProxy(replicaEnv))), spec)
    return {
      aifiRps: AIFI_RPS,
      latencyMs: FLOOD_LATENCY_MS,
      deadlineMs: FLOOD_DEADLINE_MS,
      patches: FLOOD_PATCHES,
      warmupFloodsPerProxy: WARMUP_FLOODS_PER_PROXY,
      recoveryMs: RECOVERY_MS,
      replicas: FLOOD_REPLICAS,
      measuredFloods: MEASURED_FLOODS,
      floor,
      one,
      three,
    }
  } finally {
    await sim.setRateLimit(null)
    if (redis !== undefined) await stop(redis.child)
  }
}

async function runFlood(proxies: ProxyProcess[], spec: Omit<FloodSpec, 'origins' | 'warmupFloods'>): Promise<FloodTopology> {
  try {
    const full: FloodSpec = { ...spec, origins: proxies.map((proxy) => proxy.url), warmupFloods: WARMUP_FLOODS_PER_PROXY * proxies.length }
    const runs = await runJsonChild<FloodRun[]>('flood', ['--import', 'tsx', 'bench/flood-refusals-load.ts', JSON.stringify(full)], LOAD_BUDGET_MS)
    const bySlowestRefusal = [...runs].sort((a, b) => a.refusedMaxMs - b.refusedMaxMs)
    return { median: bySlowestRefusal[Math.floor((runs.length - 1) / 2)]!, runs }
  } finally {
    await Promise.all(proxies.map((proxy) => stop(proxy.child)))
  }
}
