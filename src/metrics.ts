import { Counter, Gauge, Histogram, Registry } from 'prom-client'
import { registerProcessMetrics } from './process-metrics.ts'

export type Metrics = ReturnType<typeof createMetrics>

/** The metrics of docs/operations.md#metrics. Labels hold outcomes and statuses only, never ids, names or values. */
export function createMetrics() {
  const registry = new Registry()
  const processMetrics = registerProcessMetrics(registry)
  const registers = [registry]

  return {
    registry,
    /** Stops what samples the event loop. */
    close: processMetrics.close,
    requests: new Counter({
      name: 'aifi_proxy_requests_total',
      help: 'Proxy API requests by outcome: a merge result (applied, noop, dry_run), read, replayed, or an error type',
      labelNames: ['outcome'] as const,
      registers,
    }),
    requestDuration: new Histogram({
      name: 'aifi_proxy_request_duration_seconds',
      help:
        'Time from a request arriving to its answer being sent, by route pattern (METHOD /path, or unmatched) and outcome ' +
        '(applied, noop, dry_run for a PATCH answered 200, else the status class 2xx, 4xx, 5xx)',
      labelNames: ['route', 'outcome'] as const,
      // Up to the default 30 s request deadline.
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    upstreamRequests: new Counter({
      name: 'aifi_proxy_upstream_requests_total',
      help: 'Attempts sent to AiFi by operation and HTTP status (or timeout / error); every attempt counts',
      labelNames: ['op', 'status'] as const,
      registers,
    }),
    upstreamDuration: new Histogram({
      name: 'aifi_proxy_upstream_duration_seconds',
      help: 'Duration of each attempt sent to AiFi',
      labelNames: ['op'] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    batchSize: new Histogram({
      name: 'aifi_proxy_batch_size',
      help: 'Patches coalesced into one upstream write cycle',
      buckets: [1, 2, 4, 8, 16, 32, 64, 128],
      registers,
    }),
    lockWait: new Histogram({
      name: 'aifi_proxy_lock_wait_seconds',
      help: "Time a patch waited until its cycle could start: its session's turn, the cross-replica lock and the AiFi quota",
      buckets: [0.001, 0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    verificationFailures: new Counter({
      name: 'aifi_proxy_verification_failures_total',
      help: 'Writes whose response did not hold what was written, or lost an event',
      registers,
    }),
    quotaWait: new Histogram({
      name: 'aifi_proxy_quota_wait_seconds',
      help: 'Time a reservation waited for its slot in the outbound quota to AiFi (the cluster quota with REDIS_URL)',
      buckets: [0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    flowWaiting: new Gauge({
      name: 'aifi_proxy_flow_waiting',
      help: 'Cycles and reads waiting for their turn in the AiFi quota, by flow (a caller name, or forwarded)',
      labelNames: ['flow'] as const,
      registers,
    }),
    flowGrants: new Counter({
      name: 'aifi_proxy_flow_grants_total',
      help: 'Turns in the AiFi quota granted, by flow (a caller name, or forwarded)',
      labelNames: ['flow'] as const,
      registers,
    }),
    flowWait: new Histogram({
      name: 'aifi_proxy_flow_wait_seconds',
      help: 'Time a grant waited for its turn in the AiFi quota, by flow (a caller name, or forwarded)',
      labelNames: ['flow'] as const,
      buckets: [0.001, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    }),
    flowRefusals: new Counter({
      name: 'aifi_proxy_flow_refusals_total',
      help: "Requests refused at once because their flow's share of the AiFi quota could not serve them before their deadline (E_QUOTA_EXHAUSTED), by flow",
      labelNames: ['flow'] as const,
      registers,
    }),
    upstreamPauses: new Counter({
      name: 'aifi_proxy_upstream_pauses_total',
      help: 'Times AiFi answered 503 or 429 and the quota paused for its Retry-After (every replica, with REDIS_URL)',
      registers,
    }),
    lockTakeovers: new Counter({
      name: 'aifi_proxy_lock_takeovers_total',
      help: 'Session locks taken after their holder never released them: a replica died or stalled past its lease',
      registers,
    }),
    redisErrors: new Counter({
      name: 'aifi_proxy_redis_errors_total',
      help: 'Redis calls that failed or timed out, by what they were for (lock, quota, idempotency, inbox, heartbeat)',
      labelNames: ['operation'] as const,
      registers,
    }),
  }
}
