-- ARGV: id, then the terminate block (CANCELLED). A task past its deadline: QUEUED
-- ends CANCELLED with DEADLINE_EXCEEDED at once; RUNNING is flagged to stop at its
-- next step (a dead worker's task then ends so when its lease is reaped); a task
-- that ended, or whose owner already cancelled it, leaves the deadline set.
local status = redis.call("HGET", KEYS[1], "status")
if status ~= "QUEUED" and status ~= "RUNNING" then
  redis.call("ZREM", KEYS[13], ARGV[1])
  return nil
end
if not past_deadline() then return nil end
if status == "QUEUED" then
  redis.call("HSET", KEYS[1], "deadline_exceeded", "1")
  cancel_instead(2)
  terminate(2, "")
elseif redis.call("HGET", KEYS[1], "cancel_requested") ~= "1" then
  stop_for_deadline()
else
  redis.call("ZREM", KEYS[13], ARGV[1])
  return nil
end
return redis.call("HGETALL", KEYS[1])
