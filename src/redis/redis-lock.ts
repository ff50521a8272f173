import { randomUUID } from 'node:crypto'
import type { FastifyBaseLogger } from 'fastify'
import type { RedisClientType } from 'redis'
import type { LockLease, SessionLock } from '../coordinator/session-lock.ts'
import { systemClock, type Clock } from '../deadline.ts'
import { coordinationUnavailable } from '../errors.ts'
import { sessionTag } from './redis-keys.ts'
import { ACQUIRE_LOCK, EXTEND_LOCK, RELEASE_LOCK } from './scripts.ts'

/** A lease on a session's lock in Redis: what a script that must run only under it checks. */
export interface RedisLease extends LockLease {
  readonly key: string
  readonly token: string
}

export type LockRedisClient = Pick<RedisClientType, 'eval' | 'ping' | 'isReady'>

/** Tells waiters that a lock was released; a lost message only costs a wait until the lease's own expiry. */
export interface ReleaseNotices {
  subscribe(channel: string, onMessage: (message: string) => void): Promise<void>
}

export interface RedisLockOptions {
  client: LockRedisClient
  /** Release notices over Redis pub/sub (a connection of its own); without them, waiters wake at expiry only. */
  notices?: ReleaseNotices
  /** The lease (LOCK_TTL_MS): longer than a whole read-merge-write, and extended every third of it while held. */
  ttlMs: number
  logger: FastifyBaseLogger
  keyPrefix?: string
  /** A lock taken after its holder never released it: a replica died or stalled past its lease. */
  onTakeover?: () => void
  clock?: Clock
}

// Spreads the waiters that wake at a lease's expiry, so they do not all ask Redis in the same millisecond.
const EXPIRY_JITTER_MS = 50

/**
 * One lock per session across replicas (docs/consistency.md#serialization): SET NX PX with a random token,
 * extended while held, released by compare-and-delete. A waiter wakes when the holder's release is published,
 * or when the lease it saw would expire, never by polling.
 */
export function createRedisLock(options: RedisLockOptions): SessionLock<RedisLease> & { listen(): Promise<void> } {
  const { client, ttlMs, logger } = options
  const clock = options.clock ?? systemClock
  const keyPrefix = options.keyPrefix ?? 'aifi-merge-proxy:lock:'
  const channel = `${keyPrefix}released`
  // A lease this close to its expiry is treated as lost: the write could otherwise land after it expired.
  const safetyMarginMs = Math.min(1_000, ttlMs / 5)
  const waiters = new Map<string, Set<() => void>>()
  const held = new Set<RedisLease>()


  /**
   * Starts listening for `key`'s release before the attempt that may fail, so a release published between that
   * attempt's answer and the wait is not missed. `wait(ms)` resolves at the release, or after `ms`.
   */
  function expectRelease(key: string) {
    let notified = false
    let onNotice: (() => void) | undefined
    const notice = () => {
      notified = true
      onNotice?.()
    }
    waiters.set(key, (waiters.get(key) ?? new Set()).add(notice))
    const stop = () => {
      const waiting = waiters.get(key)
      waiting?.delete(notice)
      if (waiting?.size === 0) waiters.delete(key)
    }
    const wait = (ms: number) =>
      new Promise<void>((resolve) => {
        if (notified) return resolve()
        const timer = setTimeout(resolve, ms)
        onNotice = () => {
          clearTimeout(timer)
          resolve()
        }
      }).finally(stop)
    return { wait, stop }
  }

  const wakeWaiters = (key: string) => waiters.get(key)?.forEach((wake) => wake())

  function holdLease(key: string, token: string, acquiredAt: number): RedisLease {
    let expiresAt = acquiredAt + ttlMs
    let lost = false
    /** Compare-and-extend: renews the lease only while the key still holds this lease's token. */
    const extend = async (): Promise<boolean> => {
      const startedAt = clock.now()
      try {
        const extended = await client.eval(EXTEND_LOCK, { keys: [key, `${key}:holder`], arguments: [token, String(ttlMs)] })
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
    const lease: RedisLease = {
      key,
      token,
      confirm: async () => !lost && (await extend()),
      async release() {
        clearInterval(timer)
        held.delete(lease)
        try {
          await client.eval(RELEASE_LOCK, { keys: [key, `${key}:holder`], arguments: [token, channel, key] })
          // Waiters in this process need no round trip through pub/sub.
          wakeWaiters(key)
        } catch (error) {
          // Not released: it expires on its own after ttlMs.
          logger.warn({ err: error }, 'could not release a session lock')
        }
      },
    }
    held.add(lease)
    return lease
  }

  return {
    /** Subscribes to release notices; until it has, waiters still wake at each lease's expiry. */
    async listen() {
      await options.notices?.subscribe(channel, wakeWaiters)
    },
    async acquire(sessionId, maxWaitMs) {
      const key = keyPrefix + sessionTag(sessionId)
      const token = randomUUID()
      const giveUpAt = clock.now() + maxWaitMs
      for (;;) {
        const attemptedAt = clock.now()
        const release = expectRelease(key)
        let reply: [number, number]
        try {
          reply = (await client.eval(ACQUIRE_LOCK, { keys: [key, `${key}:holder`], arguments: [token, String(ttlMs)] })) as [number, number]
        } catch (error) {
          release.stop()
          throw coordinationUnavailable('the session lock cannot be taken', error)
        }
        const [acquired, detail] = reply
        const remaining = giveUpAt - clock.now()
        if (acquired === 1 || remaining <= 0) release.stop()
        if (acquired === 1) {
          if (detail === 1) options.onTakeover?.()
          return holdLease(key, token, attemptedAt)
        }
        if (remaining <= 0) return undefined
        // `detail` is the holder's remaining lease: it ends by then unless extended, and a release wakes us sooner.
        // Looking again after a third of a lease at most bounds what a lost notice costs.
        const untilExpiry = Math.min(Math.max(1, detail), ttlMs / 3)
        await release.wait(Math.min(remaining, untilExpiry + Math.random() * Math.min(EXPIRY_JITTER_MS, untilExpiry / 10)))
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
    async releaseAll() {
      await Promise.all([...held].map((lease) => lease.release()))
    },
  }
}
