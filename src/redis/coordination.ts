import type { FastifyBaseLogger } from 'fastify'
import type { RedisClientType } from 'redis'
import type { Config } from '../config.ts'
import { createLocalLock, type SessionLock } from '../coordinator/session-lock.ts'
import type { IdempotencyStore } from '../idempotency/idempotency-store.ts'
import { createMemoryIdempotencyStore } from '../idempotency/memory-store.ts'
import { boundRedisCalls } from './bounded-redis.ts'
import { createRedisIdempotencyStore } from './redis-idempotency-store.ts'
import { createRedisLock } from './redis-lock.ts'

// A healthy Redis answers in well under a millisecond; one that takes a second is as good as down.
const REDIS_CALL_TIMEOUT_MS = 1_000

export interface Coordination {
  lock: SessionLock
  idempotency: IdempotencyStore
  close(): Promise<void>
}

/**
 * What replicas share: with REDIS_URL, the session locks and the Idempotency-Key answers live in Redis;
 * without it, one replica needs neither beyond its own memory, and the Redis client is not even loaded
 * (it costs about 10 MB of memory).
 */
export async function createCoordination(config: Config, logger: FastifyBaseLogger): Promise<Coordination> {
  if (config.redisUrl === undefined) {
    return { lock: createLocalLock(), idempotency: createMemoryIdempotencyStore(), close: async () => {} }
  }
  const { createClient } = await import('redis')
  const client = createClient({
    url: config.redisUrl,
    // Fail fast while disconnected (a 503 now beats a request parked until its deadline), and keep reconnecting.
    disableOfflineQueue: true,
    socket: { connectTimeout: 5_000, reconnectStrategy: (retries) => Math.min(100 * 2 ** retries, 2_000) },
  })
  client.on('error', (error: Error) => logger.warn({ err: { message: error.message } }, 'Redis connection problem'))
  client.connect().catch((error: Error) => logger.error({ err: { message: error.message } }, 'could not connect to Redis'))
  const bounded = boundRedisCalls(client as RedisClientType, REDIS_CALL_TIMEOUT_MS)
  return {
    lock: createRedisLock({ client: bounded, ttlMs: config.lockTtlMs, logger }),
    // A running marker outlives the request that set it, but not by much: a crashed replica frees its keys.
    idempotency: createRedisIdempotencyStore({ client: bounded, runningTtlMs: config.requestDeadlineMs + 5_000 }),
    close: async () => {
      if (client.isReady) await client.close()
      else if (client.isOpen) client.destroy()
    },
  }
}
