import { randomBytes } from 'node:crypto'
import { runJsonChild, startRedisServer, stop, type ProxyProcess, type StartProxy } from './children.ts'
import type { NoisyRun, NoisySpec } from './noisy-neighbour-spec.ts'
import { AIFI_RPS } from './rate-limit.ts'
import type { SimControl } from './sim-control.ts'

// Scenario 8, the noisy neighbour: a checkout service patching on a steady beat, first alone, then beside a
// backfill job whose hundred workers patch as fast as they are answered. AiFi takes 20 requests/s; the proxy is
// told which caller is which (PROXY_API_KEYS) and their shares (CALLER_SHARES). Run on one process, then on three
// replicas on one Redis, each caller round robin over them.

export const NOISY_LATENCY_MS = 20
export const CALLER_SHARES = 'checkout:4,backfill:1'
const CHECKOUT_SESSIONS = 4
const BACKFILL_WORKERS = 100
const SPACING_MS = 250
const ALONE_MS = 10_000
const FLOOD_MS = 15_000
const TAIL_MS = 4_000
const WARMUP_PER_PROXY = 3
const NOISY_REPLICAS = 3

export interface NoisyNeighbourResult {
  aifiRps: number
  latencyMs: number
  callerShares: string
  checkoutSessions: number
  spacingMs: number
  backfillWorkers: number
  aloneMs: number
  floodMs: number
  tailMs: number
  replicas: number
  one: NoisyRun
  three: NoisyRun
}

export async function measureNoisyNeighbour(startProxy: StartProxy, simulatorUrl: string, sim: SimControl): Promise<NoisyNeighbourResult> {
  const secrets = { checkout: randomBytes(12).toString('hex'), backfill: randomBytes(12).toString('hex') }
  const env = {
    AIFI_MAX_RPS: String(AIFI_RPS),
    PROXY_API_KEYS: `checkout:${secrets.checkout},backfill:${secrets.backfill}`,
    CALLER_SHARES,
  }
  const run = async (proxies: ProxyProcess[]): Promise<NoisyRun> => {
    try {
      return await runNoisyLoad(proxies, simulatorUrl, secrets, sim)
    } finally {
      // Killed at once: draining the flood's abandoned patches would serve callers that are gone.
      await Promise.all(proxies.map((proxy) => stop(proxy.child, 0)))
    }
  }
  console.error('bench: 8. noisy neighbour on one process')
  const one = await run([await startProxy(env)])
  const redis = await startRedisServer()
  try {
    console.error(`bench: 8. noisy neighbour on ${NOISY_REPLICAS} replicas`)
    const replicaEnv = { ...env, REDIS_URL: redis.url }
    const three = await run(await Promise.all(Array.from({ length: NOISY_REPLICAS }, () => startProxy(replicaEnv))))
    return {
      aifiRps: AIFI_RPS,
      latencyMs: NOISY_LATENCY_MS,
      callerShares: CALLER_SHARES,
      checkoutSessions: CHECKOUT_SESSIONS,
      spacingMs: SPACING_MS,
      backfillWorkers: BACKFILL_WORKERS,
      aloneMs: ALONE_MS,
      floodMs: FLOOD_MS,
      tailMs: TAIL_MS,
      replicas: NOISY_REPLICAS,
      one,
      three,
    }
  } finally {
    await stop(redis.child)
  }
}

async function runNoisyLoad(proxies: ProxyProcess[], simulatorUrl: string, secrets: { checkout: string; backfill: string }, sim: SimControl): Promise<NoisyRun> {
  await sim.setLatency(NOISY_LATENCY_MS)
  const checkoutSessions = await sim.createSessions(CHECKOUT_SESSIONS)
  const backfillSessions = await sim.createSessions(BACKFILL_WORKERS)
  await sim.setRateLimit(AIFI_RPS)
  const spec: NoisySpec = {
    origins: proxies.map((proxy) => proxy.url),
    simulatorUrl,
    checkout: { authorization: `Bearer ${secrets.checkout}`, sessionIds: checkoutSessions },
    backfill: { authorization: `Bearer ${secrets.backfill}`, sessionIds: backfillSessions },
    warmup: WARMUP_PER_PROXY * proxies.length,
    spacingMs: SPACING_MS,
    aloneMs: ALONE_MS,
    floodMs: FLOOD_MS,
    tailMs: TAIL_MS,
  }
  try {
    const budgetMs = ALONE_MS + FLOOD_MS + 2 * TAIL_MS + 20_000
    return await runJsonChild<NoisyRun>('noisy', ['--import', 'tsx', 'bench/noisy-neighbour-load.ts', JSON.stringify(spec)], budgetMs)
  } finally {
    await sim.setRateLimit(null)
  }
}
