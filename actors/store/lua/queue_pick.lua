-- KEYS: the queue, the claim key. ARGV: record key prefix, claim_ms, fresh.
-- Which task a worker that is free should start: the first of the queue (its best by
-- priority, fair share and age), remembered under the worker's claim so that a
-- retry after a lost reply picks the same one; "fresh" = "1" forgets that (the task
-- went to another worker first). Returns the task's record, or nil for an empty queue.
if ARGV[3] ~= "1" then
  local claimed = redis.call("GET", KEYS[2])
  if claimed then return redis.call("HGETALL", ARGV[1] .. claimed) end
end
local best = redis.call("ZRANGE", KEYS[1], 0, 0)[1]
if not best then
  redis.call("DEL", KEYS[2])
  return nil
end
redis.call("SET", KEYS[2], best, "PX", ARGV[2])
return redis.call("HGETALL", ARGV[1] .. best)
