import { createHash } from 'node:crypto'
import type { RedisClientType } from 'redis'
import { DEFAULT_BURST, type RateLimiter } from '../aifi/rate-limiter.ts'
import { delay } from '../deadline.ts'
import { ProxyError } from '../errors.ts'
import { PAUSE_QUOTA, RESERVE_QUOTA } from './scripts.ts'

export type QuotaRedisClient = Pick<RedisClientType, 'eval'>

/**
 * AIFI_MAX_RPS for the whole cluster (docs/consistency.md#rate-limiting): every replica that shares this Redis
 * and calls the same AiFi origin with the same credential reserves from one GCRA key, timed by Redis's own
 * clock. The key holds a digest, never the credential. A Redis that does not answer refuses the call: no
 * call goes out above the quota.
 */
export function createRedisQuota(options: {
  client: QuotaRedisClient
  ratePerSecond: number
  aifiOrigin: string
  keyPrefix?: string
  burst?: number
}): RateLimiter {
  const { client } = options
  const prefix = options.keyPrefix ?? 'aifi-merge-proxy:quota:'
  const intervalMs = 1000 / options.ratePerSecond
  const toleranceMs = Math.max(0, (options.burst ?? DEFAULT_BURST) - 1) * intervalMs
  const keyOf = (credential: string) => prefix + createHash('sha256').update(`${options.aifiOrigin}\n${credential}`).digest('base64url')

  async function run(script: string, keys: string[], args: Array<string | number>): Promise<unknown> {
    try {
      return await client.eval(script, { keys, arguments: args.map(String) })
    } catch (cause) {
      throw new ProxyError('E_COORDINATION_UNAVAILABLE', { message: 'Redis does not answer: the shared AiFi quota cannot be reserved', cause })
    }
  }

  return {
    async reserve(tokens, maxWaitMs, credential) {
      const key = keyOf(credential)
      const [granted, waitMs] = (await run(RESERVE_QUOTA, [key, `${key}:paused`], [intervalMs, toleranceMs, tokens, Math.floor(maxWaitMs)])) as [number, number]
      if (granted !== 1) return { granted: false, retryAfterMs: waitMs }
      await delay(waitMs)
      return { granted: true, waitedMs: waitMs }
    },
    async pause(credential, ms) {
      await run(PAUSE_QUOTA, [`${keyOf(credential)}:paused`], [Math.ceil(ms)])
    },
  }
}
