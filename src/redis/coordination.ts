import type { FastifyBaseLogger } from 'fastify'
import type { RedisClientType } from 'redis'
import { createRateLimiter, type RateLimiter } from '../aifi/rate-limiter.ts'
import type { Config } from '../config.ts'
import { createLocalLock, type SessionLock } from '../coordinator/session-lock.ts'
import type { IdempotencyStore } from '../idempotency/idempotency-store.ts'
import { createMemoryIdempotencyStore } from '../idempotency/memory-store.ts'
import { systemClock } from '../deadline.ts'
import type { Metrics } from '../metrics.ts'
import { boundRedisCalls } from './bounded-redis.ts'
import { createRedisIdempotencyStore } from './redis-idempotency-store.ts'
import { createRedisLock } from './redis-lock.ts'
import { createRedisQuota } from './redis-quota.ts'
import { createSharedInbox, type SharedInboxFactory } from './shared-inbox.ts'

// A healthy Redis answers in well under a millisecond; one that takes a second is as good as down.
const REDIS_CALL_TIMEOUT_MS = 1_000
// Reconnect attempts back off to at most this, so service resumes within a second of Redis answering again.
const MAX_RECONNECT_DELAY_MS = 500

export interface Coordination {
  lock: SessionLock
  idempotency: IdempotencyStore
  /** The outbound quota to AiFi: this process's, or the cluster's. */
  limiter: RateLimiter
  /** One queue per session for the whole cluster, with REDIS_URL; buildApp uses it in service mode. */
  sharedInbox?: SharedInboxFactory
  close(): Promise<void>
}

/**
 * What replicas share (docs/consistency.md#several-replicas): with REDIS_URL, the session locks, the AiFi quota
 * and the Idempotency-Key answers live in Redis; without it, one replica needs none of them beyond its own
 * memory, and the Redis client is not even loaded (it costs about 10 MB of memory).
 */
export async function createCoordination(
  config: Config,
  deps: { logger: FastifyBaseLogger; metrics: Metrics; aifiOrigin: string },
): Promise<Coordination> {
  const { logger, metrics } = deps
  if (config.redisUrl === undefined) {
    const limiter = createRateLimiter(config.aifiMaxRps)
    return { lock: createLocalLock(), idempotency: createMemoryIdempotencyStore(config.idempotencyBounds), limiter, close: async () => {} }
  }
  const { createClient } = await import('redis')
  const client = createClient({
    url: config.redisUrl,
    // Fail fast while disconnected (a 503 now beats a request parked until its deadline), and keep reconnecting.
    disableOfflineQueue: true,
    socket: { connectTimeout: 5_000, reconnectStrategy: (retries) => Math.min(50 * 2 ** retries, MAX_RECONNECT_DELAY_MS) },
  }) as RedisClientType
  // Pub/sub needs a connection of its own: a subscribed connection can run no other command.
  const subscriber = client.duplicate()
  const connected = [client, subscriber].map((connection) => {
    connection.on('error', (error: Error) => logger.warn({ err: { message: error.message } }, 'Redis connection problem'))
    return connection.connect().catch((error: Error) => logger.error({ err: { message: error.message } }, 'could not connect to Redis'))
  })
  const bounded = (operation: string) =>
    boundRedisCalls(client, REDIS_CALL_TIMEOUT_MS, () => metrics.redisErrors.inc({ operation }))

  const lock = createRedisLock({
    client: bounded('lock'),
    notices: { subscribe: (channel, onMessage) => subscriber.subscribe(channel, onMessage) },
    ttlMs: config.lockTtlMs,
    logger,
    onTakeover: () => metrics.lockTakeovers.inc(),
  })
  // Once subscribed, the client subscribes again by itself after every reconnect.
  void connected[1]!.then(() => lock.listen()).catch((error: Error) => logger.warn({ err: { message: error.message } }, 'could not subscribe to lock releases'))
  const sharedInbox: SharedInboxFactory = (cycle) => {
    const inbox = createSharedInbox({
      ...cycle,
      client: bounded('inbox'),
      subscribe: (channel, onMessage) => subscriber.subscribe(channel, onMessage),
      lock,
      retentionMs: config.requestDeadlineMs + 5_000,
      clock: systemClock,
      logger,
    })
    void connected[1]!.then(() => inbox.listen()).catch((error: Error) => logger.warn({ err: { message: error.message } }, 'could not subscribe to settlements'))
    return inbox
  }
  return {
    // Lock releases and settlements arrive on the subscribed connection: a replica without it is not ready.
    lock: { ...lock, isReady: async () => subscriber.isReady && (await lock.isReady()) },
    sharedInbox,
    limiter: createRedisQuota({ client: bounded('quota'), ratePerSecond: config.aifiMaxRps, aifiOrigin: deps.aifiOrigin }),
    // A running marker outlives the request that set it, but not by much: a crashed replica frees its keys.
    idempotency: createRedisIdempotencyStore({
      client: bounded('idempotency'),
      runningTtlMs: config.requestDeadlineMs + 5_000,
      bounds: config.idempotencyBounds,
    }),
    close: async () => {
      await lock.releaseAll()
      for (const connection of [subscriber, client]) {
        if (connection.isReady) await connection.close()
        else if (connection.isOpen) connection.destroy()
      }
    },
  }
}
