// Every Lua script the service runs in Redis, each once. A script runs atomically: no other command runs
// between its read and its write.

/**
 * Deletes KEYS[1] only while it holds ARGV[1]: a lock released by its holder's token only, an idempotency marker
 * freed by the request that set it only (https://redis.io/docs/latest/develop/use/patterns/distributed-locks/).
 */
export const COMPARE_AND_DELETE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`

/** Renews KEYS[1]'s expiry to ARGV[2] ms only while it holds ARGV[1]: only the lock's holder extends its lease. */
export const COMPARE_AND_EXTEND = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`
