// Every Lua script the service runs in Redis, each once. A script runs atomically: no other command runs
// between its read and its write. The lock follows the single-instance pattern of
// https://redis.io/docs/latest/develop/use/patterns/distributed-locks/ (a random token, compare-and-delete).

/** Deletes KEYS[1] only while it holds ARGV[1]: an idempotency marker is freed by the request that set it only. */
export const COMPARE_AND_DELETE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`

/** Milliseconds on Redis's own clock, the one every replica shares. */
const REDIS_NOW_MS = `local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)`

/**
 * The cluster's quota to AiFi: a GCRA reservation (the arithmetic of src/aifi/rate-limiter.ts gcraSlot).
 * KEYS[1] theoretical arrival time, KEYS[2] paused-until; ARGV interval ms, tolerance ms, tokens, max wait ms.
 * Returns {granted (0/1), wait ms}: a refusal takes nothing.
 */
export const RESERVE_QUOTA = `${REDIS_NOW_MS}
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
export const PAUSE_QUOTA = `${REDIS_NOW_MS}
local pausedUntil = now + tonumber(ARGV[1])
if pausedUntil > (tonumber(redis.call('GET', KEYS[1])) or 0) then
  redis.call('SET', KEYS[1], string.format('%.3f', pausedUntil), 'PX', ARGV[1])
end
return 1`

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

// The shared inbox (src/redis/shared-inbox.ts). An inbox entry is one string: `<pushedAt> <turnAt> <deadlineAt> <json>`,
// the three times in milliseconds on Redis's clock, so every replica judges them alike. The JSON is never decoded
// here: cjson would turn an empty array in a caller's metadata into an object.

/**
 * Appends the entry ARGV[1] to the inbox KEYS[1]. ARGV[2] and ARGV[3] are the ms left for its turn and for its
 * request; ARGV[4] how long an untouched inbox lives. Returns the stored entry, which withdrawing it needs.
 */
export const INBOX_PUSH = `${REDIS_NOW_MS}
local entry = now .. ' ' .. (now + tonumber(ARGV[2])) .. ' ' .. (now + tonumber(ARGV[3])) .. ' ' .. ARGV[1]
redis.call('RPUSH', KEYS[1], entry)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return entry`

/**
 * The lock holder's batch. KEYS[1] inbox, KEYS[2] the taken batch, KEYS[3] the ids a write may have carried,
 * KEYS[4] the session's lock; ARGV[1] the holder's token, ARGV[2] the batch size, ARGV[3] how long a taken batch
 * lives. A batch a previous holder took and never settled comes first, then the inbox in arrival order. Entries
 * whose request deadline has passed are dropped, and untaken ones whose turn has passed are never taken: their
 * callers have had their answer. Returns {now, entries, ids that may have been written}, or {-1} without the lock.
 */
export const INBOX_TAKE = `if redis.call('GET', KEYS[4]) ~= ARGV[1] then return {-1} end
${REDIS_NOW_MS}
local batch = {}
for _, entry in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do
  local deadlineAt = tonumber(string.match(entry, '^%d+ %d+ (%d+) '))
  if deadlineAt > now then table.insert(batch, entry) end
end
local size = tonumber(ARGV[2])
while #batch < size do
  local entry = redis.call('LPOP', KEYS[1])
  if not entry then break end
  local turnAt, deadlineAt = string.match(entry, '^%d+ (%d+) (%d+) ')
  if tonumber(turnAt) > now and tonumber(deadlineAt) > now then table.insert(batch, entry) end
end
redis.call('DEL', KEYS[2])
if #batch > 0 then
  redis.call('RPUSH', KEYS[2], unpack(batch))
  redis.call('PEXPIRE', KEYS[2], ARGV[3])
  redis.call('PEXPIRE', KEYS[3], ARGV[3])
else
  redis.call('DEL', KEYS[3])
end
return {now, batch, redis.call('SMEMBERS', KEYS[3])}`

/**
 * Records that a write about to be sent carries the entries ARGV[3..] of the taken batch, while the lock KEYS[1]
 * still holds token ARGV[1]: a holder that re-runs the batch after a crash does not judge their If-Match again.
 * KEYS[2] the set of such ids; ARGV[2] how long it lives. Returns 1, or 0 without the lock.
 */
export const INBOX_MARK_WRITTEN = `if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SADD', KEYS[2], unpack(ARGV, 3))
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return 1`

/**
 * Settles the taken batch while the lock KEYS[1] holds token ARGV[1]: forgets the batch (KEYS[2], KEYS[3]), keeps
 * each entry's settlement for ARGV[2] ms under ARGV[3]..id, and publishes each replica's settlements. ARGV[4] is the
 * number of entries, then (id, settlement) pairs, then (channel, message) pairs. Returns 1, or 0 without the lock.
 */
export const INBOX_SETTLE = `if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('DEL', KEYS[2], KEYS[3])
local count = tonumber(ARGV[4])
for i = 0, count - 1 do
  redis.call('SET', ARGV[3] .. ARGV[5 + 2 * i], ARGV[6 + 2 * i], 'PX', ARGV[2])
end
for i = 5 + 2 * count, #ARGV, 2 do
  redis.call('PUBLISH', ARGV[i], ARGV[i + 1])
end
return 1`

/**
 * Takes the entry ARGV[1] back out of the inbox KEYS[1] if no holder has taken it. Returns 1 when withdrawn;
 * otherwise its settlement from KEYS[2] if there is one yet, or 0 (taken, not yet settled).
 */
export const INBOX_WITHDRAW = `if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 1 then return 1 end
return redis.call('GET', KEYS[2]) or 0`

/** The kept settlements of the entries whose keys are KEYS (nil for those not settled). */
export const INBOX_SETTLEMENTS = `return redis.call('MGET', unpack(KEYS))`
