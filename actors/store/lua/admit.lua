-- KEYS: token bucket (hash), owner's live-task counter, waiting sets of every queue...
-- ARGV: now_ms, rate per s, burst, max unfinished, max queued, count.
-- Admits `count` tasks at once or none: each counts against the limits and takes a
-- token. Returns {1} when admitted, else {0, reason, retry_after_ms}.
local count = tonumber(ARGV[6] or "1")
local live = tonumber(redis.call("GET", KEYS[2]) or "0")
if live + count > tonumber(ARGV[4]) then return {0, "UNFINISHED_TASKS", 1000} end
local queued = 0
for i = 3, #KEYS do queued = queued + redis.call("ZCARD", KEYS[i]) end
if queued + count > tonumber(ARGV[5]) then return {0, "QUEUE_FULL", 1000} end
local now, rate, burst = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local state = redis.call("HMGET", KEYS[1], "tokens", "at")
local tokens = tonumber(state[1] or ARGV[3])
local at = tonumber(state[2] or ARGV[1])
tokens = math.min(burst, tokens + math.max(0, now - at) * rate / 1000)
if tokens < count then
  if count > burst then return {0, "OVER_BURST", 0} end  -- never, however long it waits
  return {0, "SUBMIT_RATE", math.ceil((count - tokens) * 1000 / rate)}
end
redis.call("HSET", KEYS[1], "tokens", tostring(tokens - count), "at", ARGV[1])
redis.call("PEXPIRE", KEYS[1], math.ceil(burst * 1000 / rate) + 1000)
return {1}
