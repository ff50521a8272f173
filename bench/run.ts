import { randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { cpus, loadavg, totalmem } from 'node:os'
import { parseArgs } from 'node:util'
import { buildSources, type Build } from './build.ts'
import { cpuTimeMs, peakRssMb, startProxyProcess, startSimulatorProcess, stop, stopAll, type ProxyProcess, type StartProxy } from './children.ts'
import type { Endpoints } from './endpoints.ts'
import { measureFloodRefusals } from './flood-refusals.ts'
import { measureLargeInputs } from './large-inputs.ts'
import { HOT_LATENCY_MS, HOT_PATCHES, measureSingleMerge, runHotSession, type Client } from './hot-session.ts'
import { measureOverhead } from './overhead.ts'
import { measureNoisyNeighbour } from './noisy-neighbour.ts'
import { measureRateLimit } from './rate-limit.ts'
import { measureReplicas, measureReplicasHot, REPLICAS } from './replicas.ts'
import { floodTargets, renderFlood } from './report-flood.ts'
import type { Target } from './report-format.ts'
import { noisyTargets, renderNoisy } from './report-noisy.ts'
import { hotTarget, renderHot } from './report-replicas.ts'
import { describeRun, evaluateTargets, renderMarkdown, renderTargets, type BenchResults, type Machine } from './report.ts'
import { createSimControl } from './sim-control.ts'
import { measureTracingCost } from './tracing-cost.ts'

// `npm run bench`: every scenario in one run of about four and a half minutes, on 127.0.0.1 only. Prints the
// results as Markdown and writes bench/results.json. A hard limit ends everything if anything hangs.
// `npm run bench -- --only noisy-neighbour` runs that scenario alone (about a minute), `--only flood-refusals` that
// one (about 20 s); `--only replicas-hot` runs scenario 6's hot session alone, on one replica and on three,
// `--trials` times each (5 unless said, ~5 s a trial).

const HARD_LIMIT_MS = 390_000
/** The scenarios that `--only` can run on their own. */
const SELECTABLE = ['noisy-neighbour', 'replicas-hot', 'flood-refusals'] as const
const HOT_ONLY_TRIALS = 5
/** "Unlimited" for scenario 1, so the comparison with naive clients measures the proxy, not its limiter. */
const UNLIMITED_RPS = 1_000_000
const RESULTS_FILE = new URL('results.json', import.meta.url)

let build: Build | undefined
let stopping = false

async function shutDown(exitCode: number): Promise<void> {
  if (stopping) return
  stopping = true
  await stopAll()
  build?.remove()
  process.exit(exitCode)
}

/** The scenario named by `--only`, if any, and `--trials`; an unknown name stops the run before anything starts. */
function selectedScenario(): { only: (typeof SELECTABLE)[number] | undefined; trials: number } {
  const { only, trials } = parseArgs({ options: { only: { type: 'string' }, trials: { type: 'string' } } }).values
  const count = Number(trials ?? HOT_ONLY_TRIALS)
  if (!Number.isInteger(count) || count < 1) throw new Error('--trials takes a whole number of at least 1')
  if (only === undefined) return { only, trials: count }
  const known = SELECTABLE.find((name) => name === only)
  if (known === undefined) throw new Error(`--only takes one of: ${SELECTABLE.join(', ')}`)
  return { only: known, trials: count }
}

function describeMachine(loadBefore: number): Machine {
  return {
    cpus: cpus().length,
    cpuModel: cpus()[0]?.model.trim() ?? 'unknown',
    node: process.version,
    platform: `${process.platform} ${process.arch}`,
    memoryGb: totalmem() / 2 ** 30,
    loadBefore,
    loadAfter: loadavg()[0]!,
  }
}

/** `--only`: this scenario's figures alone in bench/results.json, and printed with its targets. */
function reportOnly(only: string, startedAt: Date, loadBefore: number, figures: Record<string, unknown>, lines: string[], targets: Target[]): void {
  const run = { startedAt: startedAt.toISOString(), durationS: (Date.now() - startedAt.getTime()) / 1000, machine: describeMachine(loadBefore) }
  writeFileSync(RESULTS_FILE, `${JSON.stringify({ ...run, only, ...figures, targets }, null, 2)}\n`)
  process.stdout.write(`${[describeRun(run), '', ...lines, ...renderTargets(targets)].join('\n')}\n`)
  console.error('bench: wrote bench/results.json (this scenario only)')
}

async function main(): Promise<void> {
  const { only, trials } = selectedScenario()
  const startedAt = new Date()
  const loadBefore = loadavg()[0]!
  console.error('bench: compiling src/ ...')
  build = await buildSources()
  const token = randomBytes(12).toString('hex')
  const callerKey = randomBytes(12).toString('hex')
  const simulator = await startSimulatorProcess(build.dist, token)
  const sim = createSimControl(simulator.url)
  const startProxy: StartProxy = (env = {}) =>
    startProxyProcess(build!.dist, {
      NODE_ENV: 'production',
      AIFI_BASE_URL: simulator.url,
      AIFI_API_TOKEN: token,
      PROXY_API_KEYS: `bench:${callerKey}`,
      ...env,
    })
  const endpointsOf = (proxy: ProxyProcess): Endpoints => ({
    simulatorUrl: simulator.url,
    simulatorAuthorization: `Bearer ${token}`,
    proxyUrl: proxy.url,
    proxyAuthorization: `Bearer ${callerKey}`,
  })
  const proxyClient = (proxy: ProxyProcess): Client => ({ mode: 'proxy', origin: proxy.url, authorization: `Bearer ${callerKey}` })
  const naiveClient: Client = { mode: 'naive', origin: simulator.url, authorization: `Bearer ${token}` }
  const byProxy: Record<string, number> = {}

  if (only === 'noisy-neighbour') {
    const noisyNeighbour = await measureNoisyNeighbour(startProxy, simulator.url, sim)
    return reportOnly(only, startedAt, loadBefore, { noisyNeighbour }, renderNoisy(noisyNeighbour), noisyTargets(noisyNeighbour))
  }
  if (only === 'replicas-hot') {
    const hot = await measureReplicasHot(startProxy, `Bearer ${callerKey}`, sim, trials)
    return reportOnly(only, startedAt, loadBefore, { hot }, renderHot(REPLICAS, hot), [hotTarget(hot)])
  }
  if (only === 'flood-refusals') {
    const floodRefusals = await measureFloodRefusals(startProxy, simulator.url, `Bearer ${callerKey}`, sim)
    return reportOnly(only, startedAt, loadBefore, { floodRefusals }, renderFlood(floodRefusals), floodTargets(floodRefusals))
  }

  console.error('bench: 1. overhead')
  const fast = await startProxy({ AIFI_MAX_RPS: String(UNLIMITED_RPS) })
  const overheadRows = await measureOverhead(endpointsOf(fast), sim, () => ({ proxy: cpuTimeMs(fast.child), simulator: cpuTimeMs(simulator.child) }))
  console.error('bench: 2. hot session')
  const proxyWithoutLimiter = await runHotSession(proxyClient(fast), sim)
  byProxy[`AIFI_MAX_RPS=${UNLIMITED_RPS} (scenarios 1, 2)`] = peakRssMb(fast.child) ?? NaN
  await stop(fast.child)

  const standard = await startProxy()
  const singleMergeMs = await measureSingleMerge(proxyClient(standard), sim)
  const naiveSingleMergeMs = await measureSingleMerge(naiveClient, sim)
  const hotProxy = await runHotSession(proxyClient(standard), sim)
  const hotNaive = await runHotSession(naiveClient, sim)
  console.error('bench: 3. rate limit')
  const rateLimit = await measureRateLimit(endpointsOf(standard), sim)
  byProxy['default AIFI_MAX_RPS=20 (scenarios 2, 3)'] = peakRssMb(standard.child) ?? NaN
  await stop(standard.child)
  console.error('bench: 5. event-loop stalls on large inputs')
  const largeInputs = await measureLargeInputs(build.dist, simulator, sim)
  console.error('bench: 6. replicas on one Redis')
  const replicas = await measureReplicas(startProxy, `Bearer ${callerKey}`, sim)
  console.error('bench: 7. tracing cost')
  const tracing = await measureTracingCost(startProxy, `Bearer ${callerKey}`, sim)
  const noisyNeighbour = await measureNoisyNeighbour(startProxy, simulator.url, sim)
  const floodRefusals = await measureFloodRefusals(startProxy, simulator.url, `Bearer ${callerKey}`, sim)
  await stop(simulator.child)

  const results: BenchResults = {
    startedAt: startedAt.toISOString(),
    durationS: (Date.now() - startedAt.getTime()) / 1000,
    machine: describeMachine(loadBefore),
    overhead: { aifiMaxRps: UNLIMITED_RPS, rows: overheadRows },
    hotSession: {
      latencyMs: HOT_LATENCY_MS,
      patches: HOT_PATCHES,
      singleMergeMs,
      naiveSingleMergeMs,
      proxy: hotProxy,
      proxyWithoutLimiter,
      naive: hotNaive,
    },
    rateLimit,
    memory: { peakRssMb: Math.max(...Object.values(byProxy)), byProxy },
    largeInputs,
    replicas,
    tracing,
    noisyNeighbour,
    floodRefusals,
  }
  const targets = evaluateTargets(results)
  writeFileSync(RESULTS_FILE, `${JSON.stringify({ ...results, targets }, null, 2)}\n`)
  process.stdout.write(`${renderMarkdown(results, targets)}\n`)
  console.error('bench: wrote bench/results.json')
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    console.error(`bench: ${signal}, stopping every child process`)
    void shutDown(130)
  })
}
setTimeout(() => {
  console.error(`bench: not done after ${HARD_LIMIT_MS / 1000} s, giving up`)
  void shutDown(1)
}, HARD_LIMIT_MS).unref()

main().then(
  () => shutDown(0),
  (error: unknown) => {
    // After a signal or the hard limit, the failures of children being stopped are expected, not news.
    if (!stopping) console.error('bench failed:', error)
    return shutDown(1)
  },
)
