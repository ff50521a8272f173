import type { FastifyBaseLogger } from 'fastify'
import type { Dispatcher } from 'undici'
import { createAifiClient } from './aifi/aifi-client.ts'
import { defaultRetryPolicy } from './aifi/retry.ts'
import { createUpstream } from './aifi/upstream.ts'
import type { Config } from './config.ts'
import type { Inbox } from './coordinator/inbox.ts'
import { createDrainer } from './coordinator/drainer.ts'
import { createMemoryInbox } from './coordinator/memory-inbox.ts'
import { createMergeCycle } from './coordinator/merge-cycle.ts'
import { createLocalLock, type SessionLock } from './coordinator/session-lock.ts'
import { createSessionService } from './coordinator/session-service.ts'
import { createWaitingCallers, type WaitingCallers } from './coordinator/waiting-callers.ts'
import type { Clock } from './deadline.ts'
import type { AuthSettings } from './http/auth.ts'
import type { IdempotencyStore } from './idempotency/idempotency-store.ts'
import { createMemoryIdempotencyStore } from './idempotency/memory-store.ts'
import type { Metrics } from './metrics.ts'
import { createFairQuota } from './quota/fair-quota.ts'
import { createFlows } from './quota/flows.ts'
import { createMemoryQuota } from './quota/memory-quota.ts'
import type { FairQuota, FairQuotaDeps } from './quota/quota.ts'
import type { Tracing } from './tracing/tracing.ts'

/**
 * What replicas share (docs/consistency.md#several-replicas): in one process, its own memory; with REDIS_URL,
 * Redis (src/redis/redis-coordination.ts).
 */
export interface Coordination {
  // The lock's lease type is the Redis inbox's business, and the two are built together.
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  lock: SessionLock<any>
  /** AiFi's quota, shared out between callers: this process's scheduler, or the cluster's in Redis. */
  quota(deps: FairQuotaDeps): FairQuota
  idempotency: IdempotencyStore
  /** The cluster's inbox, used in service mode; it answers this process's waiting callers as settlements arrive. */
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  sharedInbox?: (waiting: WaitingCallers) => Inbox<any>
  /** Tells the drain when Redis failed (a dropped connection, a call that timed out). */
  onFault?: (listener: () => void) => void
  isReady(): Promise<boolean>
  /** Resolves once this process hears lock releases and settlements (Redis's subscriptions are in place). */
  listening?(): Promise<void>
  /** Hands back every lease still held. */
  releaseAll(): Promise<void>
  close(): Promise<void>
}

export function createLocalCoordination(config: Pick<Config, 'aifiMaxRps' | 'idempotencyBounds'>): Coordination {
  const lock = createLocalLock()
  return {
    lock,
    quota: (deps) => createFairQuota(createMemoryQuota(config.aifiMaxRps), deps),
    idempotency: createMemoryIdempotencyStore(config.idempotencyBounds),
    isReady: lock.isReady,
    releaseAll: lock.releaseAll,
    close: async () => {},
  }
}

export interface ReplicaDeps {
  aifiBaseUrl: string
  auth: AuthSettings
  coordination: Coordination
  metrics: Metrics
  tracing: Tracing
  clock: Clock
  logger: FastifyBaseLogger
  /** How AiFi is reached: by default the AiFi client owns one undici Pool for the origin. */
  dispatcher?: Dispatcher
}

export type Replica = ReturnType<typeof composeReplica>

/**
 * The composition root of the write path, outside fastify: client → upstream → quota → inbox → drainer, and the
 * session service the routes call. Production (src/server.ts) and the tests build a replica with this one function.
 */
export function composeReplica(config: Config, deps: ReplicaDeps) {
  const { auth, coordination, metrics, tracing, clock, logger } = deps
  const client = createAifiClient({
    baseUrl: deps.aifiBaseUrl,
    timeoutMs: config.upstreamTimeoutMs,
    dispatcher: deps.dispatcher,
    tracer: tracing,
    onAttempt: (op, status, seconds) => {
      metrics.upstreamRequests.inc({ op, status })
      metrics.upstreamDuration.observe({ op }, seconds)
    },
  })
  const retryPolicy = defaultRetryPolicy(config.upstreamRetries)
  const flows = createFlows(auth.mode)
  const quota = coordination.quota({
    clock,
    shareOf: (flow) => config.callerShares.get(flow) ?? 1,
    intervalMs: 1000 / config.aifiMaxRps,
    observe: {
      waiting: (flow, delta) => metrics.flowWaiting.inc({ flow: flows.label(flow) }, delta),
      granted: (flow, waitedMs) => {
        metrics.quotaWait.observe(waitedMs / 1000)
        metrics.flowWait.observe({ flow: flows.label(flow) }, waitedMs / 1000)
        metrics.flowGrants.inc({ flow: flows.label(flow) })
      },
      refused: (flow) => metrics.flowRefusals.inc({ flow: flows.label(flow) }),
    },
  })
  const upstream = createUpstream({ client, quota, retryPolicy, authMode: auth.mode, clock, metrics, onAccepted: flows.accepted })
  const waiting = createWaitingCallers()
  // Forward mode coalesces within a process only: a caller's token, which authorizes its write, never goes to Redis.
  const inbox = auth.mode === 'service' && coordination.sharedInbox !== undefined ? coordination.sharedInbox(waiting) : createMemoryInbox()
  const serviceAuthorization = auth.mode === 'service' ? `Bearer ${auth.upstreamToken}` : undefined
  const cycle = createMergeCycle({ upstream, logger, metrics, retryPolicy, clock, tracer: tracing, serviceAuthorization })
  const drainer = createDrainer({ inbox, lock: coordination.lock, quota, cycle, waiting, clock, logger, maxBatch: config.maxBatch, flowLabel: flows.label })
  coordination.onFault?.(() => {
    quota.onCoordinationFault?.()
    void drainer.onCoordinationFault()
  })
  return {
    service: createSessionService({ upstream, quota, drainer }),
    drainer,
    flows,
    coordination,
    close: () => {
      quota.close()
      return client.close()
    },
  }
}
