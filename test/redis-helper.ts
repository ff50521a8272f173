import { randomUUID } from 'node:crypto'
import type { TestContext } from 'node:test'
import { createClient, type RedisClientType } from 'redis'
import { boundRedisCalls } from '../src/redis/bounded-redis.ts'
import { createLogger } from '../src/logger.ts'
import { createRedisLock } from '../src/redis/redis-lock.ts'
import type { SessionLock } from '../src/coordinator/session-lock.ts'
import { createRedisIdempotencyStore } from '../src/redis/redis-idempotency-store.ts'
import { createRedisQuota } from '../src/redis/redis-quota.ts'

const REDIS_URL = process.env.REDIS_TEST_URL ?? 'redis://127.0.0.1:6379'

/**
 * A connected client to the test Redis, closed with the test. Without a Redis the test is skipped locally, but
 * fails in CI (CI=true), where .ci/run has started one: a missing Redis must never pass as green.
 */
export async function connectTestRedis(t: TestContext): Promise<RedisClientType | undefined> {
  const client: RedisClientType = createClient({ url: REDIS_URL, socket: { reconnectStrategy: false, connectTimeout: 2_000 } })
  client.on('error', () => {})
  try {
    await client.connect()
  } catch (error) {
    if (process.env.CI === 'true') throw new Error(`Redis is required in CI at ${REDIS_URL}`, { cause: error })
    t.skip(`no Redis at ${REDIS_URL}`)
    return undefined
  }
  t.after(() => client.close())
  return client
}

/** A second connection to the same Redis, closed with the test: for pausing Redis, or dropping a connection. */
export async function connectSecondClient(t: TestContext, client: RedisClientType): Promise<RedisClientType> {
  const second = client.duplicate()
  second.on('error', () => {})
  await second.connect()
  t.after(async () => {
    if (second.isOpen) await second.close()
  })
  return second
}

/**
 * Lock, idempotency store and AiFi quota on a key prefix of this test's own, so tests never see each other's keys.
 * The quota's rate is AIFI_MAX_RPS for every app that shares it (`maxRps`, default 20).
 */
export function createRedisCoordination(client: RedisClientType, options: { ttlMs?: number; prefix?: string; maxRps?: number } = {}) {
  const prefix = options.prefix ?? `test:${randomUUID()}:`
  const logger = createLogger({ logLevel: 'silent' })
  const bounded = boundRedisCalls(client, 500)
  const lock: SessionLock = createRedisLock({ client: bounded, ttlMs: options.ttlMs ?? 30_000, logger, keyPrefix: `${prefix}lock:` })
  const idempotency = createRedisIdempotencyStore({ client: bounded, runningTtlMs: 35_000, keyPrefix: `${prefix}idem:` })
  const limiter = createRedisQuota({ client: bounded, ratePerSecond: options.maxRps ?? 20, aifiOrigin: 'http://aifi.test', keyPrefix: `${prefix}quota:` })
  return { lock, idempotency, limiter, lockKey: (sessionId: string) => `${prefix}lock:${sessionId}` }
}
