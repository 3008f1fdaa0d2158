-- ARGV: the terminate block for CANCELLED.
-- QUEUED: cancelled at once. RUNNING: flagged; the worker stops at its next step.
local status = redis.call("HGET", KEYS[1], "status")
if not status then return nil end
if status == "QUEUED" then
  terminate(1, "")
elseif status == "RUNNING" and redis.call("HGET", KEYS[1], "cancel_requested") ~= "1" then
  redis.call("HSET", KEYS[1], "cancel_requested", "1", "stage", "cancelling")
  redis.call("HINCRBY", KEYS[1], "seq", 1)
end
return redis.call("HGETALL", KEYS[1])
