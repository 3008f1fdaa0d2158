-- ARGV: id, attempt, dispatch_ms, then the terminate block (CANCELLED).
-- A worker shutting down hands its task back: QUEUED again, without counting it
-- as lost; a task whose cancel was asked for ends CANCELLED instead.
if redis.call("HGET", KEYS[1], "status") ~= "RUNNING"
   or redis.call("HGET", KEYS[1], "attempts") ~= ARGV[2] then return nil end
if redis.call("HGET", KEYS[1], "cancel_requested") == "1" then
  terminate(4, "")
else
  requeue("requeued: its worker shut down", ARGV[3])
end
return redis.call("HGETALL", KEYS[1])
