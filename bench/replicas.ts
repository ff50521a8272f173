import { runLoad, startRedisServer, stop, type ProxyProcess, type StartProxy } from './children.ts'
import { measureFailover, type FailoverResult } from './failover.ts'
import { HOT_LATENCY_MS, runHotSession, type Client, type HotRun } from './hot-session.ts'
import { AIFI_RPS } from './rate-limit.ts'
import type { SimControl } from './sim-control.ts'

// Scenario 6: replicas on one Redis, as README "Running several replicas" deploys them. The same engine (REDIS_URL
// set) runs as one replica and as three, side by side: AiFi's quota shared by the cluster, one hot session whose
// callers a round-robin balancer spreads over the replicas, and the failover when a replica dies holding a lock.

export const REPLICAS = 3
/** On every simulator call in the quota and failover parts: an AiFi that takes a realistic moment, not none. */
export const REPLICA_LATENCY_MS = 20
/** Set on every replica although it is the default, so the failover target is judged on the lease in use. */
export const LOCK_TTL_MS = 5_000
const QUOTA_SESSIONS = 30
const CALLERS_PER_SESSION = 3
/**
 * Longer than LOCK_WAIT_MS (10 s by default): a caller that waits past it gets a 503 within the window, where a
 * window of exactly 10 s would abandon it unseen a moment before.
 */
const QUOTA_WINDOW_MS = 12_000
/**
 * Divisible by three, so each of three replicas gets as many patches, and one more than a multiple of MAX_BATCH
 * (5 × 64 + 1): the first patch to an idle session starts a cycle at once, and however many the burst's first
 * batch catches (1 to 64), the rest fill five more. So the figure counts what coalescing across replicas costs,
 * not a race. With 201 (3 × 64 + 9) a first batch of fewer than 9 cost one cycle more, on either side, in about
 * half of the runs on three replicas and a third on one, before the shared inbox's rewrite and after it.
 */
export const REPLICA_HOT_PATCHES = 321
/** The hot session runs this many times on each, alternating; the median run is reported. */
const HOT_TRIALS = 3

export type HotComparison = ReplicasResult['hot']

export interface QuotaRun {
  replicas: number
  /** 200 answers within the window. */
  delivered: number
  patchesPerSecond: number
  /** Proxy answers other than 200 within the window, by status. */
  failures: Record<string, number>
  /** Patches still waiting for their answer when the window closed. */
  abandoned: number
  /** Of the answers within the window: how long a caller waited for one. */
  p50Ms: number
  maxMs: number
  simulator503s: number
  upstreamRequests: number
  upstreamRps: number
}

export interface ReplicasResult {
  replicas: number
  latencyMs: number
  quota: { aifiRps: number; sessions: number; callersPerSession: number; windowMs: number; one: QuotaRun; three: QuotaRun }
  /** Each side's median run (wall time and upstream requests), and every run, in the order they ran. */
  hot: { patches: number; latencyMs: number; one: HotRun; three: HotRun; runs: { one: HotRun[]; three: HotRun[] } }
  failover: FailoverResult
}

/** Replicas on the run's Redis, each sub-run on a database of its own; every one started is remembered, to stop. */
function replicaStarter(startProxy: StartProxy, redisUrl: string) {
  const started: ProxyProcess[] = []
  return {
    started,
    // A Redis database per sub-run, so no lock, quota or Idempotency-Key answer of one carries over to the next.
    async start(count: number, database: number): Promise<ProxyProcess[]> {
      const env = { REDIS_URL: `${redisUrl}/${database}`, LOCK_TTL_MS: String(LOCK_TTL_MS) }
      const replicas = await Promise.all(Array.from({ length: count }, () => startProxy(env)))
      started.push(...replicas)
      return replicas
    },
  }
}

/** A client that sends round robin over the replicas, as a balancer would. */
const roundRobin = (replicas: ProxyProcess[], authorization: string): Client => ({
  mode: 'proxy',
  origin: replicas[0]!.url,
  origins: replicas.map((replica) => replica.url),
  authorization,
})

export async function measureReplicas(startProxy: StartProxy, authorization: string, sim: SimControl): Promise<ReplicasResult> {
  const redis = await startRedisServer()
  const { started, start: startReplicas } = replicaStarter(startProxy, redis.url)
  const clientOf = (replicas: ProxyProcess[]) => roundRobin(replicas, authorization)
  try {
    const one = await startReplicas(1, 1)
    const three = await startReplicas(REPLICAS, 2)
    const hot = await compareHot(clientOf(one), clientOf(three), sim, HOT_TRIALS)
    const quotaOne = await measureQuota(clientOf(one), sim)
    // Stopped before the three run theirs, so its abandoned patches cannot reach the simulator during it.
    await stopAbandoned(one)

    // Before the quota part, whose abandoned patches would keep the shared quota busy for seconds after it.
    const failover = await measureFailover(three, { authorization, lockTtlMs: LOCK_TTL_MS, latencyMs: REPLICA_LATENCY_MS }, sim)
    const [replacement] = await startReplicas(1, 2)
    const quotaThree = await measureQuota(clientOf([replacement!, ...three.slice(1)]), sim)
    return {
      replicas: REPLICAS,
      latencyMs: REPLICA_LATENCY_MS,
      quota: { aifiRps: AIFI_RPS, sessions: QUOTA_SESSIONS, callersPerSession: CALLERS_PER_SESSION, windowMs: QUOTA_WINDOW_MS, one: quotaOne, three: quotaThree },
      hot,
      failover,
    }
  } finally {
    await stopAbandoned(started)
    await stop(redis.child)
  }
}

/**
 * `npm run bench -- --only replicas-hot`: the hot session alone, on one replica and on three (each on a Redis
 * database of its own), `trials` times each, alternating.
 */
export async function measureReplicasHot(startProxy: StartProxy, authorization: string, sim: SimControl, trials: number): Promise<HotComparison> {
  const redis = await startRedisServer()
  const { started, start: startReplicas } = replicaStarter(startProxy, redis.url)
  try {
    const [one, three] = [await startReplicas(1, 1), await startReplicas(REPLICAS, 2)]
    return await compareHot(roundRobin(one, authorization), roundRobin(three, authorization), sim, trials)
  } finally {
    await Promise.all(started.map((replica) => stop(replica.child)))
    await stop(redis.child)
  }
}

/** The hot session on one replica and on three, alternating, after one unmeasured burst each. */
async function compareHot(one: Client, three: Client, sim: SimControl, trials: number): Promise<HotComparison> {
  // One burst each first, unmeasured: the first requests a process serves run its code cold.
  for (const client of [one, three]) await runHotSession(client, sim, REPLICAS * 10)
  const runs = { one: [] as HotRun[], three: [] as HotRun[] }
  for (let trial = 0; trial < trials; trial++) {
    runs.one.push(await runHotSession(one, sim, REPLICA_HOT_PATCHES))
    runs.three.push(await runHotSession(three, sim, REPLICA_HOT_PATCHES))
    const requests = (run: HotRun) => `${run.upstreamRequests} requests (${run.upstreamWrites} cycles)`
    console.error(`bench: hot run ${trial + 1} of ${trials}: 1 replica ${requests(runs.one.at(-1)!)}, ${REPLICAS} replicas ${requests(runs.three.at(-1)!)}`)
  }
  return { patches: REPLICA_HOT_PATCHES, latencyMs: HOT_LATENCY_MS, one: medianRun(runs.one), three: medianRun(runs.three), runs }
}

/** The median wall time and upstream requests of a side's runs, and the worst of everything that must be zero. */
function medianRun(runs: HotRun[]): HotRun {
  const median = (pick: (run: HotRun) => number) => runs.map(pick).sort((a, b) => a - b)[Math.floor(runs.length / 2)]!
  const worst = (pick: (run: HotRun) => number) => Math.max(...runs.map(pick))
  return {
    wallMs: median((run) => run.wallMs),
    upstreamReads: median((run) => run.upstreamReads),
    upstreamWrites: median((run) => run.upstreamWrites),
    upstreamRequests: median((run) => run.upstreamRequests),
    keysLost: worst((run) => run.keysLost),
    failed: worst((run) => run.failed),
    eventsKept: runs.every((run) => run.eventsKept),
    maxConcurrentPatches: worst((run) => run.maxConcurrentPatches),
  }
}

/**
 * Replicas still queueing the patches of a window's abandoned callers: killed at once, since draining them
 * (SIGTERM's grace) would only serve callers that are gone, and log their lock timeouts on the way.
 */
function stopAbandoned(replicas: ProxyProcess[]): Promise<unknown> {
  return Promise.all(replicas.map((replica) => stop(replica.child, 0)))
}

/**
 * AiFi at 20 rps, and every caller of a session in a closed loop (its next patch as soon as the last is answered)
 * for a fixed window. With three replicas, caller i of each session goes to replica i, as a round-robin balancer
 * spreads them.
 */
async function measureQuota(client: Client, sim: SimControl): Promise<QuotaRun> {
  await sim.setLatency(REPLICA_LATENCY_MS)
  const sessionIds = await sim.createSessions(QUOTA_SESSIONS)
  await sim.setRateLimit(AIFI_RPS)
  await sim.resetCounters()
  try {
    const result = await runLoad({
      ...client,
      sessionIds,
      count: Number.MAX_SAFE_INTEGER,
      concurrency: QUOTA_SESSIONS * CALLERS_PER_SESSION,
      keys: 64,
      durationMs: QUOTA_WINDOW_MS,
    })
    const counters = await sim.counters()
    const upstreamRequests = Object.values(counters.requests).reduce((sum, count) => sum + count, 0)
    return {
      replicas: client.origins?.length ?? 1,
      delivered: result.ok,
      patchesPerSecond: result.throughput,
      failures: Object.fromEntries(Object.entries(result.statuses).filter(([status]) => status !== '200')),
      abandoned: result.abandoned,
      p50Ms: result.p50Ms,
      maxMs: result.maxMs,
      simulator503s: counters.rateLimited,
      upstreamRequests,
      upstreamRps: upstreamRequests / (QUOTA_WINDOW_MS / 1000),
    }
  } finally {
    await sim.setRateLimit(null)
  }
}
