import { createHash } from 'node:crypto'
import type { RedisClientType } from 'redis'
import { DEFAULT_BURST, type RateLimiter } from '../aifi/rate-limiter.ts'
import { delay } from '../deadline.ts'
import { ProxyError } from '../errors.ts'
import { PAUSE_QUOTA, RESERVE_QUOTA } from './scripts.ts'

export type QuotaRedisClient = Pick<RedisClientType, 'eval'>

/**
 * AIFI_MAX_RPS for the whole cluster (docs/consistency.md#rate-limiting): every replica that shares this Redis
 * and calls the same AiFi origin reserves from one GCRA key, whatever credential it forwards, timed by Redis's own
 * clock. The key holds a digest of the origin. A Redis that does not answer refuses the call: no
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
  // One key per AiFi origin, whatever credential a call carries: AIFI_MAX_RPS bounds everything sent there, so tokens
  // a caller makes up in forward mode cannot multiply the rate. `credential` only names whose call it is.
  const key = prefix + createHash('sha256').update(options.aifiOrigin).digest('base64url')

  async function run(script: string, keys: string[], args: Array<string | number>): Promise<unknown> {
    try {
      return await client.eval(script, { keys, arguments: args.map(String) })
    } catch (cause) {
      throw new ProxyError('E_COORDINATION_UNAVAILABLE', { message: 'Redis does not answer: the shared AiFi quota cannot be reserved', cause })
    }
  }

  return {
    async reserve(tokens, maxWaitMs) {
      const [granted, waitMs] = (await run(RESERVE_QUOTA, [key, `${key}:paused`], [intervalMs, toleranceMs, tokens, Math.floor(maxWaitMs)])) as [number, number]
      if (granted !== 1) return { granted: false, retryAfterMs: waitMs }
      await delay(waitMs)
      return { granted: true, waitedMs: waitMs }
    },
    async pause(_credential, ms) {
      await run(PAUSE_QUOTA, [`${key}:paused`], [Math.ceil(ms)])
    },
  }
}
