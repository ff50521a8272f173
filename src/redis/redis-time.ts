/** Lua: milliseconds on Redis's own clock, the one every replica shares, as `now`. */
export const REDIS_NOW_MS = `local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)`
