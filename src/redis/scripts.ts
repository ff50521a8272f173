// The session lock's Lua scripts, and the idempotency store's compare-and-delete (the inbox's are in
// inbox-protocol.ts, the quota's in src/quota/redis-quota.ts). A script runs atomically: no other command runs
// between its read and its write. The lock follows the single-instance pattern of
// https://redis.io/docs/latest/develop/use/patterns/distributed-locks/ (a random token, compare-and-delete).

/** Deletes KEYS[1] only while it holds ARGV[1]: an idempotency marker is freed by the request that set it only. */
export const COMPARE_AND_DELETE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`

/**
 * Takes the lock KEYS[1] for token ARGV[1] with a lease of ARGV[2] ms. KEYS[2] remembers the last holder for a
 * few leases, so a lock taken after its holder never released it (it died, or stalled past its lease) is known
 * as a takeover. Returns {1, takeover (0/1)}, or {0, the lock's remaining lease in ms}.
 */
export const ACQUIRE_LOCK = `if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  local previous = redis.call('GET', KEYS[2])
  redis.call('SET', KEYS[2], ARGV[1], 'PX', tonumber(ARGV[2]) * 3)
  if previous and previous ~= ARGV[1] then return {1, 1} end
  return {1, 0}
end
return {0, redis.call('PTTL', KEYS[1])}`

/** Renews the lock KEYS[1] (and its holder record KEYS[2]) to ARGV[2] ms, only while it holds token ARGV[1]. */
export const EXTEND_LOCK = `if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[2]) * 3)
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0`

/** Releases the lock KEYS[1] held by token ARGV[1], and tells waiting replicas on channel ARGV[2] (message ARGV[3]). */
export const RELEASE_LOCK = `if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1], KEYS[2])
  redis.call('PUBLISH', ARGV[2], ARGV[3])
  return 1
end
return 0`
