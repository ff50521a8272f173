import type { RedisClientType } from 'redis'
import {
  DEFAULT_IDEMPOTENCY_BOUNDS,
  IDEMPOTENCY_TTL_MS,
  judge,
  type IdempotencyBounds,
  type IdempotencyRecord,
  type IdempotencyStore,
} from '../idempotency/idempotency-store.ts'
import { COMPARE_AND_DELETE } from './scripts.ts'

export type IdempotencyRedisClient = Pick<RedisClientType, 'set' | 'get' | 'eval'>

// What a kept answer costs beyond its bytes: the key, and the caller's sorted-set and hash entries naming it, roughly.
const ENTRY_OVERHEAD_BYTES = 200

/**
 * Keeps an answer (KEYS[1], ARGV[1]) for ARGV[2] ms, within its caller's bounds, in one step. KEYS[2] orders the
 * caller's kept answers by when they were kept (a sorted set of answer keys), KEYS[3] holds what each costs and
 * KEYS[4] their total. ARGV: TTL ms, max bytes, max answers, this answer's cost. Entries whose answers have expired
 * are forgotten first; then, while the caller is over a bound, its oldest answer is deleted. Only the caller's
 * own keys are touched: no caller can push out another's answers. The three bookkeeping keys live as long as
 * the newest answer.
 */
const KEEP_ANSWER = `local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local answer, order, sizes, total = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local ttl, maxBytes, maxKeys = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local function forget(member)
  redis.call('DECRBY', total, tonumber(redis.call('HGET', sizes, member)) or 0)
  redis.call('ZREM', order, member)
  redis.call('HDEL', sizes, member)
end
for _, member in ipairs(redis.call('ZRANGEBYSCORE', order, '-inf', now - ttl)) do forget(member) end
forget(answer)
redis.call('SET', answer, ARGV[1], 'PX', ttl)
redis.call('ZADD', order, now, answer)
redis.call('HSET', sizes, answer, ARGV[5])
redis.call('INCRBY', total, ARGV[5])
while redis.call('ZCARD', order) > maxKeys or tonumber(redis.call('GET', total)) > maxBytes do
  local oldest = redis.call('ZRANGE', order, 0, 0)[1]
  if not oldest then break end
  forget(oldest)
  redis.call('DEL', oldest)
end
for _, key in ipairs({order, sizes, total}) do redis.call('PEXPIRE', key, ttl) end
return 1`

/**
 * Shared by every replica, so a retry that lands on another replica is still recognised. A running marker
 * expires after `runningTtlMs` (longer than a request's deadline) so a crashed replica cannot hold a key forever.
 */
export function createRedisIdempotencyStore(options: {
  client: IdempotencyRedisClient
  runningTtlMs: number
  keyPrefix?: string
  bounds?: IdempotencyBounds
}): IdempotencyStore {
  const { client, runningTtlMs } = options
  const { maxBytesPerCaller, maxKeysPerCaller } = options.bounds ?? DEFAULT_IDEMPOTENCY_BOUNDS
  const prefix = options.keyPrefix ?? 'aifi-merge-proxy:idempotency:'
  // `…idempotency-callers:` can never equal an answer key `…idempotency:<scope>:<key>`, whatever the scope.
  const callerPrefix = `${prefix.replace(/:$/, '')}-callers:`
  const running = (fingerprint: string) => JSON.stringify({ state: 'running', fingerprint } satisfies IdempotencyRecord)

  return {
    async begin(claim) {
      const key = prefix + claim.scopedKey
      const claimed = await client.set(key, running(claim.fingerprint), {
        condition: 'NX',
        expiration: { type: 'PX', value: runningTtlMs },
      })
      if (claimed === 'OK') return { kind: 'started' }
      const existing = await client.get(key)
      if (existing === null) return this.begin(claim)
      return judge(JSON.parse(existing) as IdempotencyRecord, claim.fingerprint)
    },
    async complete(claim, response) {
      const key = prefix + claim.scopedKey
      const record = JSON.stringify({ state: 'done', fingerprint: claim.fingerprint, response } satisfies IdempotencyRecord)
      const cost = Buffer.byteLength(record) + 3 * Buffer.byteLength(key) + ENTRY_OVERHEAD_BYTES
      const caller = callerPrefix + claim.callerScope
      await client.eval(KEEP_ANSWER, {
        keys: [key, `${caller}:order`, `${caller}:sizes`, `${caller}:bytes`],
        arguments: [record, String(IDEMPOTENCY_TTL_MS), String(maxBytesPerCaller), String(maxKeysPerCaller), String(cost)],
      })
    },
    async abandon(claim) {
      // Deletes the key only while it still holds this request's running marker.
      await client.eval(COMPARE_AND_DELETE, { keys: [prefix + claim.scopedKey], arguments: [running(claim.fingerprint)] })
    },
  }
}
