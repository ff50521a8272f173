import type { FloodRefusalsResult } from './flood-refusals.ts'
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

function targetOf(label: string, run: FloodRun, floor: FloodRun): Target {
  const others = Object.values(run.failures).reduce((sum, count) => sum + count, 0)
  const againstFloor = `${(run.refusedMaxMs / floor.refusedMaxMs).toFixed(1)}× the bare server's ${ms(floor.refusedMaxMs)} ms`
  return {
    name: `Flood refusals, ${label}: refused answered within ${REFUSAL_MAX_MS} ms (max), accepted ≈ what the quota serves before the deadline`,
    goal: `every refusal 503 E_QUOTA_EXHAUSTED with Retry-After ≥ 1 s, the slowest ≤ ${REFUSAL_MAX_MS} ms; ${ACCEPTED_MIN}–${ACCEPTED_MAX} accepted`,
    measured: `slowest refusal ${ms(run.refusedMaxMs)} ms (${againstFloor}), ${others} other answers; ${run.accepted} accepted`,
    met: run.refusedMaxMs <= REFUSAL_MAX_MS && others === 0 && run.accepted >= ACCEPTED_MIN && run.accepted <= ACCEPTED_MAX,
  }
}

export function renderFlood(result: FloodRefusalsResult): string[] {
  const retryAfter = (counts: Record<string, number>) => Object.entries(counts).map(([seconds, count]) => `${count} × ${seconds} s`).join(', ') || '–'
  const runRow = (label: string, run: FloodRun) =>
    row(label, run.connections, run.accepted, ms(run.acceptedMaxMs), run.refused, ms(run.refusedP50Ms), ms(run.refusedP95Ms), ms(run.refusedMaxMs),
      retryAfter(run.retryAfterS), describeFailures(run.failures), run.upstreamRequests, run.simulator503s)
  return [
    `### 9. Flood refusals (simulator at ${result.aifiRps} rps and ${result.latencyMs} ms a call; AIFI_MAX_RPS=${result.aifiRps}, ` +
      `REQUEST_DEADLINE_MS=${result.deadlineMs})`,
    '',
    `${result.patches} patches to ${result.patches} fresh sessions, all sent at once, each timed from its own send to its whole answer, over ` +
      `connections opened beforehand; first ${result.warmupFloods} unmeasured floods of as many, then ${result.recoveryMs / 1000} s for the quota to refill.`,
    '',
    row('topology', 'connections open', 'accepted', 'slowest accepted', 'refused (503 E_QUOTA_EXHAUSTED)', 'refused: p50', 'p95', 'slowest', 'Retry-After',
      'other answers', 'AiFi requests', 'AiFi 503s'),
    rule(12),
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
