-- ARGV: id, max_attempts, dispatch_ms, then the terminate block (WORKER_LOST).
-- A RUNNING task whose lease lapsed lost its worker: requeued while attempts
-- remain, else ended WORKER_LOST (CANCELLED if a cancel was asked for).
if redis.call("HGET", KEYS[1], "status") ~= "RUNNING" then
  redis.call("ZREM", KEYS[9], ARGV[1])
  return nil
end
if lease_alive(ARGV[1]) then return nil end
local lost = redis.call("HINCRBY", KEYS[1], "lost", 1)
if redis.call("HGET", KEYS[1], "cancel_requested") == "1" then
  cancel_instead(4)
  terminate(4, "")
elseif lost >= tonumber(ARGV[2]) then
  terminate(4, "")
else
  requeue("requeued after its worker was lost", ARGV[3])
end
return redis.call("HGETALL", KEYS[1])
