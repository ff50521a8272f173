import type { PatchRecord } from '../coordinator/patch-record.ts'
import { parseJsonKeepingDigits } from '../merge/index.ts'
import { REDIS_NOW_MS } from '../quota/redis-schedule-scripts.ts'
import { sessionTag } from './redis-keys.ts'

// The shared inbox's layout in Redis (docs/consistency.md#the-shared-inbox). Per session, under its tag: the
// queue (a list), the batch a holder took (a list), the ids a write may have carried (a set), and one state key
// per patch: `q<entry>` queued, `taken`, `w` withdrawn unapplied, `x` never queued (withdrawn before its push
// arrived, so a late push is refused), or the patch's settlement (JSON). A queue entry is one string,
// `<pushedAt> <turnAt> <deadlineAt> <json>`, the times in ms on Redis's clock, so every replica judges them alike.
// The JSON is never decoded by a script (cjson would turn an empty array in a caller's metadata into an object);
// it starts with the patch's id, which the scripts read.

/** What a queue entry carries: who asked for what, never a secret (the caller's name, not its key). */
export type EntryData = Pick<PatchRecord, 'id' | 'caller' | 'scope' | 'flow' | 'requestId' | 'body' | 'ifMatch'> & { replica: string }

export function inboxKeys(prefix: string) {
  return {
    of(sessionId: string) {
      const base = `${prefix}${sessionTag(sessionId)}`
      return { queue: `${base}:queue`, taken: `${base}:taken`, written: `${base}:written`, turnHeld: `${base}:turn-held`, entryPrefix: `${base}:entry:` }
    },
    channel: (replica: string) => `${prefix}replica:${replica}`,
  }
}

export type InboxKeys = ReturnType<typeof inboxKeys>

/** The JSON of a queue entry, id first so that a script can read it without decoding the rest. */
export function encodeEntry(record: PatchRecord & { replica: string }): string {
  const data: EntryData = {
    id: record.id,
    replica: record.replica,
    caller: record.caller,
    scope: record.scope,
    flow: record.flow,
    requestId: record.requestId,
    body: record.body,
    ifMatch: record.ifMatch,
  }
  return JSON.stringify(data)
}

const ENTRY = /^(\d+) (\d+) (\d+) ([\s\S]*)$/

/** A queue entry as a record, its Redis times moved onto this process's clock (`now` is Redis's, `localNow` ours). */
export function decodeEntry(stored: string, sessionId: string, now: number, localNow: number): PatchRecord {
  const [, pushedAt, turnAt, deadlineAt, json] = ENTRY.exec(stored)!
  // Keeping digits: the caller's numbers are written from here (docs/http-api.md#numbers).
  const data = parseJsonKeepingDigits(json!) as EntryData
  const local = (redisTime: string) => localNow - (now - Number(redisTime))
  return {
    ...data,
    sessionId,
    receivedAt: local(pushedAt!),
    turnAt: local(turnAt!),
    deadlineAt: local(deadlineAt!),
  }
}

const ENTRY_ID = `'^%d+ %d+ %d+ {"id":"([^"]+)"'`

/**
 * KEYS[1] queue, KEYS[2] the patch's state; ARGV[1] entry JSON, ARGV[2] and ARGV[3] the ms left for its turn and
 * its request, ARGV[4] how long keys live untouched. Returns 1, or 0 when the patch was withdrawn before its push.
 */
export const PUSH = `if redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
${REDIS_NOW_MS}
local entry = now .. ' ' .. (now + tonumber(ARGV[2])) .. ' ' .. (now + tonumber(ARGV[3])) .. ' ' .. ARGV[1]
redis.call('RPUSH', KEYS[1], entry)
redis.call('PEXPIRE', KEYS[1], ARGV[4])
redis.call('SET', KEYS[2], 'q' .. entry, 'PX', ARGV[4])
return 1`

/**
 * The lock holder's batch. KEYS[1] queue, KEYS[2] taken batch, KEYS[3] ids written, KEYS[4] the session's lock,
 * KEYS[5] the session's held turn, which the take ends (the quota has answered);
 * ARGV[1] the holder's token, ARGV[2] batch size, ARGV[3] how long keys live, ARGV[4] the state keys' prefix.
 * A batch a previous holder took and never settled comes first, then the queue in arrival order. Entries whose
 * request deadline has passed are dropped (withdrawn), never taken. One whose turn has passed is taken all the
 * same: a caller is told its turn ran out only after its own withdraw took the patch out of the queue, so a patch
 * still queued waited for the quota, under a held turn, not for the turn. Returns {now, entries, ids that may have
 * been written}, or {-1} without the lock.
 */
export const TAKE = `if redis.call('GET', KEYS[4]) ~= ARGV[1] then return {-1} end
redis.call('DEL', KEYS[5])
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
  local deadlineAt = string.match(entry, '^%d+ %d+ (%d+) ')
  local state = ARGV[4] .. string.match(entry, ${ENTRY_ID})
  if tonumber(deadlineAt) > now then
    table.insert(batch, entry)
    redis.call('SET', state, 'taken', 'PX', ARGV[3])
  else
    redis.call('SET', state, 'w', 'PX', ARGV[3])
  end
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
 * Records that a write about to be sent carries the ids ARGV[3..], while the lock KEYS[1] holds token ARGV[1]:
 * a holder that re-runs the batch does not judge their If-Match again. KEYS[2] the set; ARGV[2] how long it lives.
 */
export const MARK_WRITTEN = `if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SADD', KEYS[2], unpack(ARGV, 3))
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return 1`

/**
 * Settles the taken batch while the lock KEYS[1] holds token ARGV[1]: forgets it (KEYS[2], KEYS[3]), keeps each
 * patch's settlement in its state key (prefix ARGV[3]) for ARGV[2] ms, and publishes each replica's settlements.
 * ARGV[4] is the number of patches, then (id, settlement) pairs, then (channel, message) pairs.
 */
export const SETTLE = `if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
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
 * Takes a patch back out of the queue KEYS[1] unless a holder has taken it; KEYS[2] its state, ARGV[1] how long a
 * tombstone lives. With ARGV[2] = 1 (for its turn) a queued patch stays while KEYS[3], the session's held turn,
 * exists. Returns 1 withdrawn, 0 taken, 2 held, -1 never queued (its push, should it still arrive, is refused
 * from now on), or its settlement.
 */
export const WITHDRAW = `local state = redis.call('GET', KEYS[2])
if not state then
  redis.call('SET', KEYS[2], 'x', 'PX', ARGV[1])
  return -1
end
local kind = string.sub(state, 1, 1)
if kind == 'q' and ARGV[2] == '1' and redis.call('EXISTS', KEYS[3]) == 1 then return 2 end
if kind == 'q' then
  redis.call('LREM', KEYS[1], 1, string.sub(state, 2))
  redis.call('SET', KEYS[2], 'w', 'PX', ARGV[1])
  return 1
end
if kind == 'w' then return 1 end
if kind == 'x' then return -1 end
if state == 'taken' then return 0 end
return state`

/** The lease holder of KEYS[2] (token ARGV[1]) holds the session's turn KEYS[1] for ARGV[2] ms while it waits for the quota. */
export const HOLD_TURN = `if redis.call('GET', KEYS[2]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], '1', 'PX', ARGV[2])
return 1`

/** The quota answered: the session's turn KEYS[1] is no longer held for it. */
export const HAND_BACK_TURN = `return redis.call('DEL', KEYS[1])`

/** 1 when a patch waits in the session's queue KEYS[1], else 0. */
export const HAS_QUEUED = `return redis.call('EXISTS', KEYS[1])`

/** The states of the patches KEYS (one session's): a settlement is a JSON object, anything else is not one yet. */
export const KEPT = `return redis.call('MGET', unpack(KEYS))`
