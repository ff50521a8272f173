import { randomUUID } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import type { RedisClientType } from 'redis'
import type { LockLease, SessionLock } from '../coordinator/session-lock.ts'
import { systemClock, type Clock } from '../deadline.ts'
import { COMPARE_AND_DELETE, COMPARE_AND_EXTEND } from './scripts.ts'

export type LockRedisClient = Pick<RedisClientType, 'set' | 'eval' | 'ping' | 'isReady'>

export interface RedisLockOptions {
  client: LockRedisClient
  /** The lease; longer than a whole read-merge-write (LOCK_TTL_MS), and extended while held. */
  ttlMs: number
  logger: FastifyBaseLogger
  keyPrefix?: string
  /** Polling interval while another replica holds the lock. */
  retryDelayMs?: number
  clock?: Clock
}

/** One lock per session across replicas (docs/consistency.md#serialization): SET NX PX with a random token. */
export function createRedisLock(options: RedisLockOptions): SessionLock {
  const { client, ttlMs, logger } = options
  const clock = options.clock ?? systemClock
  const keyPrefix = options.keyPrefix ?? 'aifi-merge-proxy:lock:'
  const retryDelayMs = options.retryDelayMs ?? 15
  // A lease this close to its expiry is treated as lost: the write could otherwise land after it expired.
  const safetyMarginMs = Math.min(1_000, ttlMs / 5)

  async function tryAcquire(key: string, token: string): Promise<boolean> {
    const reply = await client.set(key, token, { condition: 'NX', expiration: { type: 'PX', value: ttlMs } })
    return reply === 'OK'
  }

  function holdLease(key: string, token: string, acquiredAt: number): LockLease {
    let expiresAt = acquiredAt + ttlMs
    let lost = false
    /** Compare-and-extend: renews the lease only while the key still holds this lease's token. */
    const extend = async (): Promise<boolean> => {
      const startedAt = clock.now()
      try {
        const extended = await client.eval(COMPARE_AND_EXTEND, { keys: [key], arguments: [token, String(ttlMs)] })
        if (extended === 1) expiresAt = startedAt + ttlMs
        else lost = true
      } catch (error) {
        // Redis unreachable: the lease still runs until expiresAt, but it cannot be confirmed.
        logger.warn({ err: error }, 'could not extend a session lock')
        return false
      }
      return !lost && clock.now() < expiresAt - safetyMarginMs
    }
    const timer = setInterval(() => void extend(), Math.max(10, ttlMs / 3))
    timer.unref()
    return {
      confirm: async () => !lost && (await extend()),
      async release() {
        clearInterval(timer)
        try {
          await client.eval(COMPARE_AND_DELETE, { keys: [key], arguments: [token] })
        } catch (error) {
          // Not released: it expires on its own after ttlMs.
          logger.warn({ err: error }, 'could not release a session lock')
        }
      },
    }
  }

  return {
    async acquire(sessionId, maxWaitMs) {
      const key = keyPrefix + sessionId
      const token = randomUUID()
      const giveUpAt = clock.now() + maxWaitMs
      for (;;) {
        const attemptedAt = clock.now()
        try {
          if (await tryAcquire(key, token)) return holdLease(key, token, attemptedAt)
        } catch (error) {
          logger.error({ err: error }, 'Redis did not answer a lock request')
          return undefined
        }
        const remaining = giveUpAt - clock.now()
        if (remaining <= 0) return undefined
        await clock.delay(Math.min(remaining, retryDelayMs * (0.5 + Math.random())))
      }
    },
    async isReady() {
      if (!client.isReady) return false
      try {
        return (await client.ping()) === 'PONG'
      } catch {
        return false
      }
    },
  }
}
