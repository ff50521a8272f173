import { PRELUDE } from './redis-schedule-scripts.ts'

// What changes the cluster's schedule besides asking (ENQUEUE, PEEK) and granting (GRANT) in
// redis-schedule-scripts.ts: a waiter leaving, a cycle's cost moving between flows, AiFi's pause. Each starts with
// the same PRELUDE (its ARGV[1..5], its helpers).

/** A waiter gave up: it leaves, its flow's later requests moving up by its cost. ARGV[6]: id. 0 if it no longer waited. */
export const CANCEL = `${PRELUDE}
local id = ARGV[6]
local request = requestOf(id)
if request == nil then return 0 end
forget(id)
local cost = request.finish - request.start
for _, other in ipairs(redis.call('ZRANGEBYSCORE', waitingKey, '(' .. num(request.start), '+inf')) do
  local later = requestOf(other)
  if later and later.flow == request.flow then
    later.start, later.finish = later.start - cost, later.finish - cost
    save(other, later)
  end
end
redis.call('HINCRBYFLOAT', finishKey, request.flow, num(-cost))
return 1`

/**
 * A cycle's cost moves from the flow that waited for it to the flows of its patches, in proportion. ARGV[6..8]:
 * the flow that paid, its weight, the tokens; then triples of flow, patches, weight.
 */
export const CHARGE = `${PRELUDE}
local paidBy, paidByWeight, tokens = ARGV[6], tonumber(ARGV[7]), tonumber(ARGV[8])
local total, paidByCarried = 0, false
for index = 9, #ARGV, 3 do total = total + tonumber(ARGV[index + 1]) end
if total == 0 then return 0 end
local function move(flow, weight, cost)
  local finish = tonumber(redis.call('HGET', finishKey, flow)) or virtualTime
  redis.call('HSET', finishKey, flow, num(math.max(finish + cost / weight, virtualTime)))
end
for index = 9, #ARGV, 3 do
  local flow = ARGV[index]
  paidByCarried = paidByCarried or flow == paidBy
  move(flow, tonumber(ARGV[index + 2]), tokens * tonumber(ARGV[index + 1]) / total - (flow == paidBy and tokens or 0))
end
if not paidByCarried then move(paidBy, paidByWeight, -tokens) end
return 1`

/** AiFi answered 503 or 429: nothing is granted for ARGV[6] ms from now, unless a longer pause already holds. */
export const PAUSE = `${PRELUDE}
local pauseEnds = now + tonumber(ARGV[6])
if pauseEnds > pausedUntil then redis.call('SET', pausedKey, num(pauseEnds), 'PX', ARGV[6]) end
return 1`
