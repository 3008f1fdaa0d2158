-- Admission, shared by admit.lua (alone) and task_create.lua (decided with the record).
-- `admit(bucket, live, queues_from, a)`: the owner's token bucket (a hash), their
-- live-task counter, KEYS[queues_from..] the waiting sets of every queue, and from
-- ARGV[a]: now_ms, rate per s, burst, max unfinished, max queued, count. Admits `count`
-- tasks at once or none: each counts against the limits and takes a token. Returns
-- nil when admitted (the tokens taken), else {0, reason, retry_after_ms}.
local function admit(bucket, live_key, queues_from, a)
  local count = tonumber(ARGV[a + 5])
  local live = tonumber(redis.call("GET", live_key) or "0")
  if live + count > tonumber(ARGV[a + 3]) then return {0, "UNFINISHED_TASKS", 1000} end
  local queued = 0
  for i = queues_from, #KEYS do queued = queued + redis.call("ZCARD", KEYS[i]) end
  if queued + count > tonumber(ARGV[a + 4]) then return {0, "QUEUE_FULL", 1000} end
  local now, rate, burst = tonumber(ARGV[a]), tonumber(ARGV[a + 1]), tonumber(ARGV[a + 2])
  local state = redis.call("HMGET", bucket, "tokens", "at")
  local tokens = tonumber(state[1] or ARGV[a + 2])
  local at = tonumber(state[2] or ARGV[a])
  tokens = math.min(burst, tokens + math.max(0, now - at) * rate / 1000)
  if tokens < count then
    if count > burst then return {0, "OVER_BURST", 0} end  -- never, however long it waits
    return {0, "SUBMIT_RATE", math.ceil((count - tokens) * 1000 / rate)}
  end
  redis.call("HSET", bucket, "tokens", tostring(tokens - count), "at", ARGV[a])
  redis.call("PEXPIRE", bucket, math.ceil(burst * 1000 / rate) + 1000)
  return nil
end
