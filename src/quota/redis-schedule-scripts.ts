// The cluster's schedule of AiFi calls (docs/consistency.md#sharing-the-quota): fair-quota.ts's start-time fair
// queuing and gcra.ts's arithmetic in Lua, on Redis's clock, each script atomic: one queue and one quota for all.

/** Lua, shared with the inbox's scripts: milliseconds on Redis's own clock, the one every replica shares, as `now`. */
export const REDIS_NOW_MS = `local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)`

/**
 * One AiFi origin's schedule, under the origin's hash tag: the GCRA arrival time, the pause, the waiting requests
 * (sorted by start tag, and their records), flows' finish tags, the virtual time, replicas' leases, the answers.
 */
export const scheduleKeys = (base: string) =>
  ['', ':paused', ':waiting', ':requests', ':finish', ':virtual-time', ':replicas', ':answers'].map((suffix) => base + suffix)

/**
 * Where a replica hears its requests' grants and refusals at once: `g <id>`, or `r <id> <retry-after ms>`. The
 * same answers wait in the answers hash (by request id, `<replica>#<n>`) until the replica's next GRANT call
 * collects them, so a message missed on a reconnect costs a slot's spacing, not the request.
 */
export const scheduleChannel = (base: string, replica: string) => `${base}:to:${replica}`

const RETENTION_MS = 3_600_000 // a schedule outlives a quiet hour at most

/**
 * Every script's start. ARGV[1..5]: channel prefix, call interval ms, burst tolerance ms, lease ms, and the calling
 * replica, whose lease this renews. A request's record: flow, weight, tokens, start and finish tags, latest start
 * (Redis time), replica.
 */
export const PRELUDE = `${REDIS_NOW_MS}
local arrivalKey, pausedKey, waitingKey, requestsKey, finishKey, virtualTimeKey, replicasKey, answersKey = unpack(KEYS)
local channelPrefix, interval, tolerance = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local leaseMs, replica = tonumber(ARGV[4]), ARGV[5]
redis.call('ZADD', replicasKey, now + leaseMs, replica)
local arrival = math.max(tonumber(redis.call('GET', arrivalKey)) or now, now)
local pausedUntil = tonumber(redis.call('GET', pausedKey)) or 0
local virtualTime = tonumber(redis.call('GET', virtualTimeKey)) or 0
local function num(value) return string.format('%.17g', value) end
local function requestOf(id)
  local encoded = redis.call('HGET', requestsKey, id)
  if encoded then return cjson.decode(encoded) end
end
local function save(id, request)
  redis.call('HSET', requestsKey, id, cjson.encode(request))
  redis.call('ZADD', waitingKey, num(request.start), id)
end
local function forget(id) redis.call('ZREM', waitingKey, id); redis.call('HDEL', requestsKey, id) end
-- A request is worth a slot while its replica holds its lease and its latest start has not passed.
local function isLive(request)
  local leaseEnds = tonumber(redis.call('ZSCORE', replicasKey, request.replica))
  return leaseEnds ~= nil and leaseEnds >= now and request.latestStart >= now
end
-- How long a request of \`tokens\` calls waits when \`booked\` calls go before it (GCRA, as gcra.ts).
local function waitAfter(booked, tokens)
  local nextArrival = math.max(arrival, pausedUntil) + (booked + tokens) * interval
  return math.max(0, math.max(nextArrival - interval - tolerance, pausedUntil) - now)
end
local function tell(id, request, message)
  redis.call('HSET', answersKey, id, message)
  redis.call('PUBLISH', channelPrefix .. request.replica, message)
end`

/**
 * What ENQUEUE and PEEK judge a request by: its start tag, the live requests ahead of it in fair order, and its
 * wait for a slot after them. One whose wait passes the most it may wait is refused: {0, retry-after ms from its
 * flow's backlog}. ARGV[6..10]: id, flow, weight, tokens, most ms it may wait.
 */
const JUDGE = `
local id, flow, weight, tokens, maxWait = ARGV[6], ARGV[7], tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10])
local start = math.max(virtualTime, tonumber(redis.call('HGET', finishKey, flow)) or 0)
local ahead, backlog, weights = 0, 0, { [flow] = weight }
for _, other in ipairs(redis.call('ZRANGE', waitingKey, 0, -1)) do
  local request = requestOf(other)
  if request and isLive(request) then
    if request.start <= start then ahead = ahead + request.tokens end
    if request.flow == flow then backlog = backlog + request.tokens end
    weights[request.flow] = request.weight
  end
end
local wait = waitAfter(ahead, tokens)
if wait > maxWait then
  local totalWeight = 0
  for _, each in pairs(weights) do totalWeight = totalWeight + each end
  return {0, math.ceil(backlog * interval * totalWeight / weight)}
end`

/**
 * Queues a request in fair order, or refuses it (JUDGE) when its turn, after the live requests ahead of it, would
 * come after its latest start. A request with nothing live ahead of it and its slot free now is granted at once.
 * Returns {1, expected wait ms} when queued, {2, 0} when granted, or JUDGE's refusal.
 */
export const ENQUEUE = `${PRELUDE}${JUDGE}
redis.call('HSET', finishKey, flow, num(start + tokens / weight))
for _, key in ipairs({ waitingKey, requestsKey, finishKey, virtualTimeKey, replicasKey, answersKey }) do
  redis.call('PEXPIRE', key, ${RETENTION_MS})
end
if ahead == 0 and wait == 0 then
  local nextArrival = math.max(arrival, pausedUntil) + tokens * interval
  redis.call('SET', arrivalKey, num(nextArrival), 'PX', math.ceil(nextArrival - now) + 1000)
  redis.call('SET', virtualTimeKey, num(math.max(virtualTime, start)), 'PX', ${RETENTION_MS})
  return {2, 0}
end
save(id, { flow = flow, weight = weight, tokens = tokens, start = start, finish = start + tokens / weight,
  latestStart = now + maxWait, replica = replica })
return {1, math.ceil(wait)}`

/**
 * How ENQUEUE would answer the request now, with nothing queued or booked: {1, expected wait ms}, or JUDGE's
 * refusal. The id (ARGV[6]) is not used.
 */
export const PEEK = `${PRELUDE}${JUDGE}
return {1, math.ceil(wait)}`

/**
 * Grants every slot due now, each to the live request with the smallest start tag, and tells its replica. A
 * request whose replica's lease ended, whose latest start passed, or whose turn can no longer come in time leaves
 * with a refusal and gives its place back: its flow's later requests move up by its cost. Returns the ms until the
 * next slot is due (-1 when nothing waits), then the calling replica's answers.
 */
export const GRANT = `${PRELUDE}
local booked, granted, nextWake = 0, 0, -1
local givenBack = {}
for _, id in ipairs(redis.call('ZRANGE', waitingKey, 0, -1)) do
  local request = requestOf(id)
  if request == nil then
    redis.call('ZREM', waitingKey, id)
  else
    local shift = givenBack[request.flow] or 0
    request.start, request.finish = request.start - shift, request.finish - shift
    local wait = waitAfter(booked, request.tokens)
    if not isLive(request) or now + wait > request.latestStart then
      forget(id)
      givenBack[request.flow] = shift + request.finish - request.start
      tell(id, request, 'r ' .. id .. ' ' .. math.ceil(wait))
    elseif nextWake < 0 and wait == 0 then
      forget(id)
      booked, granted = booked + request.tokens, granted + request.tokens
      virtualTime = math.max(virtualTime, request.start)
      tell(id, request, 'g ' .. id)
    else
      if nextWake < 0 then nextWake = wait end
      booked = booked + request.tokens
      if shift > 0 then save(id, request) end
    end
  end
end
if granted > 0 then
  local nextArrival = math.max(arrival, pausedUntil) + granted * interval
  redis.call('SET', arrivalKey, num(nextArrival), 'PX', math.ceil(nextArrival - now) + 1000)
  redis.call('SET', virtualTimeKey, num(virtualTime), 'PX', ${RETENTION_MS})
end
for flow, shift in pairs(givenBack) do redis.call('HINCRBYFLOAT', finishKey, flow, num(-shift)) end
if redis.call('ZCARD', waitingKey) == 0 then
  local finishes = redis.call('HGETALL', finishKey)
  for index = 1, #finishes, 2 do
    if tonumber(finishes[index + 1]) <= virtualTime then redis.call('HDEL', finishKey, finishes[index]) end
  end
end
-- The calling replica collects its answers; those of replicas whose lease ended are dropped.
local answers = { nextWake < 0 and -1 or math.max(1, math.ceil(nextWake)) }
local stored = redis.call('HGETALL', answersKey)
for index = 1, #stored, 2 do
  local id = stored[index]
  local owner = string.match(id, '^(.*)#')
  if owner == replica then table.insert(answers, stored[index + 1]) end
  if owner == replica or (tonumber(redis.call('ZSCORE', replicasKey, owner)) or 0) < now then redis.call('HDEL', answersKey, id) end
end
redis.call('ZREMRANGEBYSCORE', replicasKey, '-inf', '(' .. now)
return answers`
