import type { HotRun } from './hot-session.ts'
import type { HotComparison, QuotaRun, ReplicasResult } from './replicas.ts'
import { describeFailures, ms, row, rule, times, type Target } from './report-format.ts'

// Scenario 6 in the report: the same engine as one replica and as three, side by side.

export const MIN_PATCHES_PER_SECOND = { one: 25, three: 9 }
/** With one queue per session across replicas (the shared inbox), three replicas do what one does. */
const MIN_SHARE_OF_ONE_REPLICA = 0.9
const MAX_HOT_RATIO = 1.2
/** A lease runs out within LOCK_TTL_MS of the kill; the second is for the takeover and the write itself. */
const FAILOVER_MARGIN_MS = 1_000

export function replicasTargets({ quota, hot, failover }: ReplicasResult): Target[] {
  const failoverBound = failover.lockTtlMs + FAILOVER_MARGIN_MS
  const share = quota.three.patchesPerSecond / quota.one.patchesPerSecond
  return [
    {
      name: 'Replicas: 503s from the simulator (1 replica / 3)',
      goal: '0 in both',
      measured: `${quota.one.simulator503s} / ${quota.three.simulator503s}`,
      met: quota.one.simulator503s === 0 && quota.three.simulator503s === 0,
    },
    {
      name: 'Replicas: patches/s through one replica',
      goal: `≥ ${MIN_PATCHES_PER_SECOND.one}`,
      measured: quota.one.patchesPerSecond.toFixed(1),
      met: quota.one.patchesPerSecond >= MIN_PATCHES_PER_SECOND.one,
    },
    {
      name: 'Replicas: patches/s through three replicas',
      goal: `≥ ${MIN_PATCHES_PER_SECOND.three}`,
      measured: quota.three.patchesPerSecond.toFixed(1),
      met: quota.three.patchesPerSecond >= MIN_PATCHES_PER_SECOND.three,
    },
    {
      name: 'Replicas: three replicas\' patches/s against one\'s',
      goal: `≥ ${MIN_SHARE_OF_ONE_REPLICA * 100}%`,
      measured: `${(share * 100).toFixed(1)}%`,
      met: share >= MIN_SHARE_OF_ONE_REPLICA,
    },
    hotTarget(hot),
    {
      name: 'Replicas: failover after a SIGKILL',
      goal: `200 within LOCK_TTL_MS + ${FAILOVER_MARGIN_MS / 1000} s = ${failoverBound} ms`,
      measured: `${failover.status} after ${ms(failover.failoverMs)} ms`,
      met: failover.status === 200 && failover.failoverMs <= failoverBound,
    },
  ]
}

export function hotTarget(hot: HotComparison): Target {
  const requests = hot.three.upstreamRequests / hot.one.upstreamRequests
  const wall = hot.three.wallMs / hot.one.wallMs
  return {
    name: 'Replicas: one hot session over three replicas, upstream requests and wall time against one replica',
    goal: `≤ ${MAX_HOT_RATIO}× both, no key lost`,
    measured: `${times(requests)} requests, ${times(wall)} wall time, ${hot.three.keysLost} keys lost`,
    met: requests <= MAX_HOT_RATIO && wall <= MAX_HOT_RATIO && hot.three.keysLost === 0 && hot.one.keysLost === 0,
  }
}

export function renderReplicas(result: ReplicasResult): string[] {
  const { quota, hot, failover } = result
  const quotaRow = (label: string, run: QuotaRun) =>
    row(label, run.delivered, run.patchesPerSecond.toFixed(1), describeFailures(run.failures), run.abandoned, `${ms(run.p50Ms)} ms`, `${ms(run.maxMs)} ms`,
      run.upstreamRequests, run.upstreamRps.toFixed(1), run.simulator503s)
  return [
    `### 6. Replicas on one Redis (a redis-server of the run's own; REDIS_URL on every replica, default AIFI_MAX_RPS=20, LOCK_TTL_MS=${failover.lockTtlMs})`,
    '',
    `AiFi's quota shared by the cluster: simulator at ${quota.aifiRps} rps and ${result.latencyMs} ms a call; ${quota.sessions} sessions × ` +
      `${quota.callersPerSession} callers in a closed loop for ${quota.windowMs / 1000} s.`,
    '',
    row('replicas', 'delivered', 'patches/s', 'non-200 answers', 'abandoned at the end', 'p50 answer', 'slowest answer', 'upstream requests', 'upstream rps',
      '503s from the simulator'),
    rule(10),
    quotaRow('1 (every caller)', quota.one),
    quotaRow(`${result.replicas} (caller i of a session → replica i)`, quota.three),
    '',
    `Three replicas deliver ${times(quota.three.patchesPerSecond / quota.one.patchesPerSecond)} what one does: a session's callers share one inbox in Redis, whichever replica they reached.`,
    '',
    ...renderHot(result.replicas, hot),
    `Failover: replica A was killed (SIGKILL) while its write of a session hung at AiFi; replica B's patch of that session ` +
      `was answered **${failover.status}** ${ms(failover.failoverMs)} ms after the kill (LOCK_TTL_MS=${failover.lockTtlMs}; ` +
      `B's key in the session afterwards: ${failover.written ? 'yes' : 'NO'}).`,
    '',
  ]
}

/** The hot session's part of scenario 6, also what `--only replicas-hot` prints. */
export function renderHot(replicas: number, hot: HotComparison): string[] {
  const hotRow = (label: string, run: HotRun) =>
    row(label, `${ms(run.wallMs)} ms`, run.upstreamRequests, run.upstreamWrites, run.keysLost, run.failed, run.maxConcurrentPatches)
  const ratio = (pick: (run: HotRun) => number) => times(pick(hot.three) / pick(hot.one))
  return [
    `One hot session across replicas: ${hot.patches} concurrent patches, ${hot.latencyMs} ms on every AiFi call, simulator unlimited.`,
    '',
    row('replicas', 'wall time', 'upstream requests (GET + PATCH)', 'PATCHes', 'keys lost', 'failed', 'max concurrent PATCHes'),
    rule(7),
    hotRow('1 (median)', hot.one),
    hotRow(`${replicas}, round robin (median)`, hot.three),
    row(`ratio ${replicas} / 1`, ratio((run) => run.wallMs), ratio((run) => run.upstreamRequests), ratio((run) => run.upstreamWrites), '', '', ''),
    '',
    `Every run, alternating: ${hot.runs.one.map((run, i) => `1 replica ${run.upstreamRequests} requests in ${ms(run.wallMs)} ms, ` +
      `${replicas} replicas ${hot.runs.three[i]!.upstreamRequests} in ${ms(hot.runs.three[i]!.wallMs)} ms`).join('; ')}. The burst is one ` +
      'more than a multiple of MAX_BATCH, so however many patches its first batch catches, the rest take as many cycles.',
    '',
  ]
}
