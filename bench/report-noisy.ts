import type { NoisyNeighbourResult } from './noisy-neighbour.ts'
import type { NoisyRun } from './noisy-neighbour-spec.ts'
import { describeFailures, ms, row, rule, type Target } from './report-format.ts'

// Scenario 8 in the report: the checkout caller alone and beside the backfill's flood, on one process and on three.

/** Beside the flood, the checkout caller's p95 may grow to this many times its p95 alone, plus the margin. */
const P95_FACTOR = 2
const P95_MARGIN_MS = 100
/** The flood must spend AiFi's quota, not leave it idle: at least this share of AIFI_MAX_RPS. */
const MIN_QUOTA_USE = 0.95

export function noisyTargets(result: NoisyNeighbourResult): Target[] {
  return [...targetsOf(result, `1 process`, result.one), ...targetsOf(result, `${result.replicas} replicas`, result.three)]
}

function targetsOf(result: NoisyNeighbourResult, label: string, run: NoisyRun): Target[] {
  const { alone, flood } = run
  const bound = P95_FACTOR * alone.p95Ms + P95_MARGIN_MS
  const failed = flood.checkout.sent - flood.checkout.ok
  const minRps = MIN_QUOTA_USE * result.aifiRps
  return [
    {
      name: `Noisy neighbour, ${label}: checkout p95 beside the flood`,
      goal: `≤ ${P95_FACTOR} × p95 alone (${ms(alone.p95Ms)} ms) + ${P95_MARGIN_MS} ms = ${ms(bound)} ms, no failure`,
      measured: `${ms(flood.checkout.p95Ms)} ms, ${failed} failed of ${flood.checkout.sent}`,
      met: flood.checkout.p95Ms <= bound && failed === 0,
    },
    {
      name: `Noisy neighbour, ${label}: AiFi requests/s during the flood`,
      goal: `≥ ${MIN_QUOTA_USE * 100}% of ${result.aifiRps} = ${minRps.toFixed(0)}, no 503 from the simulator`,
      measured: `${flood.upstreamRps.toFixed(1)}, ${flood.simulator503s} × 503`,
      met: flood.upstreamRps >= minRps && flood.simulator503s === 0,
    },
  ]
}

export function renderNoisy(result: NoisyNeighbourResult): string[] {
  const runRow = (label: string, { alone, flood }: NoisyRun) =>
    row(label, ms(alone.p50Ms), ms(alone.p95Ms), describeFailures(alone.failures), ms(flood.checkout.p50Ms), ms(flood.checkout.p95Ms), ms(flood.checkout.maxMs),
      describeFailures(flood.checkout.failures), flood.backfill.patchesPerSecond.toFixed(1), describeFailures(flood.backfill.failures),
      flood.upstreamRps.toFixed(1), flood.simulator503s)
  const seconds = (value: number) => `${(value / 1000).toFixed(0)} s`
  return [
    `### 8. Noisy neighbour (simulator at ${result.aifiRps} rps and ${result.latencyMs} ms a call; AIFI_MAX_RPS=${result.aifiRps}, ` +
      `CALLER_SHARES=${result.callerShares})`,
    '',
    `Checkout: a patch every ${result.spacingMs} ms to one of its ${result.checkoutSessions} sessions, ${seconds(result.aloneMs)} alone, then ` +
      `${seconds(result.floodMs)} beside the backfill's ${result.backfillWorkers} workers, each on a session of its own in a closed loop. ` +
      `The flood lasts until the checkout's last patch is answered, at most ${seconds(result.tailMs)} more; one still waiting then is a failure ` +
      '(`no answer`), its wait so far its latency.',
    '',
    row('topology', 'checkout alone: p50', 'p95', 'failures', 'beside the flood: p50', 'p95', 'slowest', 'failures', 'backfill patches/s', 'backfill non-2xx',
      'AiFi requests/s', 'AiFi 503s'),
    rule(12),
    runRow('1 process', result.one),
    runRow(`${result.replicas} replicas on one Redis, round robin`, result.three),
    '',
    `Latencies in ms. The flood lasted ${seconds(result.one.flood.durationMs)} on one process and ${seconds(result.three.flood.durationMs)} on ` +
      `${result.replicas} replicas; AiFi requests/s count every call the simulator received in it, its 503s included.`,
    '',
  ]
}
