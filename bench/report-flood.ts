import type { FloodRefusalsResult, FloodTopology } from './flood-refusals.ts'
import type { FloodRun } from './flood-refusals-spec.ts'
import { describeFailures, ms, row, rule, type Target } from './report-format.ts'

// Scenario 9 in the report: a flood of patches to fresh sessions, on one process and on three.

/**
 * The bounds ("Many callers, one quota", item 4): refusals within 100 ms, and the accepted about what the
 * quota serves before the deadline (ten cycles of two calls at 20 calls/s in 1 s, plus the burst).
 */
const REFUSAL_MAX_MS = 100
const ACCEPTED_MIN = 8
const ACCEPTED_MAX = 14

export function floodTargets(result: FloodRefusalsResult): Target[] {
  return [targetOf('1 process', result.one, result.floor), targetOf(`${result.replicas} replicas`, result.three, result.floor)]
}

/** The slowest refusal is judged on the median flood; every flood must refuse rightly and accept about the quota. */
function targetOf(label: string, topology: FloodTopology, floor: FloodTopology): Target {
  const { median, runs } = topology
  const others = runs.reduce((sum, run) => sum + Object.values(run.failures).reduce((total, count) => total + count, 0), 0)
  const accepted = runs.map((run) => run.accepted)
  const againstFloor = `${(median.refusedMaxMs / floor.median.refusedMaxMs).toFixed(1)}× the bare server's ${ms(floor.median.refusedMaxMs)} ms`
  return {
    name: `Flood refusals, ${label}: refused answered within ${REFUSAL_MAX_MS} ms (max), accepted ≈ what the quota serves before the deadline`,
    goal:
      `in the median of ${runs.length} floods the slowest refusal ≤ ${REFUSAL_MAX_MS} ms; in every flood every refusal ` +
      `503 E_QUOTA_EXHAUSTED with Retry-After ≥ 1 s and ${ACCEPTED_MIN}–${ACCEPTED_MAX} accepted`,
    measured:
      `slowest refusal ${ms(median.refusedMaxMs)} ms in the median flood (${againstFloor}; each flood: ${slowestOfEach(topology)} ms), ` +
      `${others} other answers; accepted ${accepted.join(', ')}`,
    met: median.refusedMaxMs <= REFUSAL_MAX_MS && others === 0 && accepted.every((count) => count >= ACCEPTED_MIN && count <= ACCEPTED_MAX),
  }
}

const slowestOfEach = (topology: FloodTopology) => topology.runs.map((run) => ms(run.refusedMaxMs)).join(', ')

export function renderFlood(result: FloodRefusalsResult): string[] {
  const retryAfter = (counts: Record<string, number>) => Object.entries(counts).map(([seconds, count]) => `${count} × ${seconds} s`).join(', ') || '–'
  const runRow = (label: string, topology: FloodTopology) => {
    const run: FloodRun = topology.median
    return row(label, run.connections, run.accepted, ms(run.acceptedMaxMs), run.refused, ms(run.refusedP50Ms), ms(run.refusedP95Ms), ms(run.refusedMaxMs),
      slowestOfEach(topology), retryAfter(run.retryAfterS), describeFailures(run.failures), run.upstreamRequests, run.simulator503s)
  }
  return [
    `### 9. Flood refusals (simulator at ${result.aifiRps} rps and ${result.latencyMs} ms a call; AIFI_MAX_RPS=${result.aifiRps}, ` +
      `REQUEST_DEADLINE_MS=${result.deadlineMs})`,
    '',
    `${result.patches} patches to ${result.patches} fresh sessions, all sent at once, each timed from its own send to its whole answer, over ` +
      `connections opened beforehand. First ${result.warmupFloodsPerProxy} unmeasured floods of as many for each proxy ` +
      `(${result.warmupFloodsPerProxy * result.replicas} on ${result.replicas} replicas); then ${result.measuredFloods} measured floods, each ` +
      `${result.recoveryMs / 1000} s after the last answer of the one before, for the quota to refill. Each row is the median flood by its ` +
      'slowest refusal; the column after it gives the slowest refusal of every flood.',
    '',
    row('topology', 'connections open', 'accepted', 'slowest accepted', 'refused (503 E_QUOTA_EXHAUSTED)', 'refused: p50', 'p95', 'slowest',
      'slowest, each flood', 'Retry-After', 'other answers', 'AiFi requests', 'AiFi 503s'),
    rule(13),
    runRow('bare node:http server, every patch answered 503 at once (the floor)', result.floor),
    runRow('1 process', result.one),
    runRow(`${result.replicas} replicas on one Redis, round robin`, result.three),
    '',
    "Latencies in ms. AiFi requests count every call the simulator received from the flood's first send to its last answer. " +
      'The bare server (bench/bare-refuser.ts) reads each body and answers a refusal of the same shape at once, ' +
      'with no routing, checks or quota: what answering this flood costs the machine before the proxy does anything.',
    '',
  ]
}
