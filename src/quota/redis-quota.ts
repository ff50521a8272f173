import { createHash } from 'node:crypto'
import type { RedisClientType } from 'redis'
import { coordinationUnavailable } from '../errors.ts'
import { DEFAULT_BURST } from './gcra.ts'
import type { QuotaStore } from './quota.ts'

/** Lua, shared with the inbox's scripts: milliseconds on Redis's own clock, the one every replica shares, as `now`. */
export const REDIS_NOW_MS = `local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)`

/**
 * A GCRA reservation (the arithmetic of gcra.ts). KEYS[1] theoretical arrival time, KEYS[2] paused-until;
 * ARGV interval ms, tolerance ms, tokens, max wait ms. Returns {granted (0/1), wait ms}: a refusal books nothing.
 */
const RESERVE_QUOTA = `${REDIS_NOW_MS}
local interval, tolerance = tonumber(ARGV[1]), tonumber(ARGV[2])
local tokens, maxWait = tonumber(ARGV[3]), tonumber(ARGV[4])
local arrival = tonumber(redis.call('GET', KEYS[1])) or now
local pausedUntil = tonumber(redis.call('GET', KEYS[2])) or 0
local nextArrival = math.max(arrival, now, pausedUntil) + tokens * interval
local wait = math.max(0, math.max(nextArrival - interval - tolerance, pausedUntil) - now)
if wait > maxWait then return {0, math.ceil(wait)} end
redis.call('SET', KEYS[1], string.format('%.3f', nextArrival), 'PX', math.ceil(nextArrival - now) + 1000)
return {1, math.ceil(wait)}`

/** Pauses the quota at KEYS[1] for ARGV[1] ms from now, unless it is already paused for longer. */
const PAUSE_QUOTA = `${REDIS_NOW_MS}
local pausedUntil = now + tonumber(ARGV[1])
if pausedUntil > (tonumber(redis.call('GET', KEYS[1])) or 0) then
  redis.call('SET', KEYS[1], string.format('%.3f', pausedUntil), 'PX', ARGV[1])
end
return 1`

export type QuotaRedisClient = Pick<RedisClientType, 'eval'>

/**
 * AIFI_MAX_RPS for the whole cluster (docs/consistency.md#rate-limiting): every replica that shares this Redis
 * and calls the same AiFi origin books from one GCRA key, timed by Redis's own clock. The key is the origin's
 * digest alone: whatever credentials callers forward, they share the one rate AiFi grants. A Redis that does
 * not answer refuses the call: no call goes out above the quota.
 */
export function createRedisQuota(options: {
  client: QuotaRedisClient
  ratePerSecond: number
  aifiOrigin: string
  keyPrefix?: string
  burst?: number
}): QuotaStore {
  const { client } = options
  const intervalMs = 1000 / options.ratePerSecond
  const toleranceMs = Math.max(0, (options.burst ?? DEFAULT_BURST) - 1) * intervalMs
  const key = `${options.keyPrefix ?? 'aifi-merge-proxy:quota:'}{${createHash('sha256').update(options.aifiOrigin).digest('base64url')}}`
  async function run(script: string, keys: string[], args: number[]): Promise<unknown> {
    try {
      return await client.eval(script, { keys, arguments: args.map(String) })
    } catch (cause) {
      throw coordinationUnavailable('the shared AiFi quota cannot be reserved', cause)
    }
  }

  return {
    async book(tokens, maxWaitMs) {
      const [granted, waitMs] = (await run(RESERVE_QUOTA, [key, `${key}:paused`], [intervalMs, toleranceMs, tokens, maxWaitMs])) as [number, number]
      return granted === 1 ? { granted: true, waitMs } : { granted: false, retryAfterMs: waitMs }
    },
    async pause(ms) {
      await run(PAUSE_QUOTA, [`${key}:paused`], [Math.ceil(ms)])
    },
  }
}
