-- ARGV: id, started_at, max_attempts, lease_ms, worker, run, then the terminate
-- block (WORKER_LOST). QUEUED -> RUNNING under a new attempt number and a lease.
-- RUNNING under this very run: a retried START whose reply was lost; it applied.
-- RUNNING under a live lease: someone runs it; a duplicate message is dropped.
-- RUNNING under a lapsed lease: its worker died and this is Dramatiq redelivering
-- the message; take it over while attempts remain, else end it WORKER_LOST (or
-- CANCELLED, if a cancel was asked for meanwhile). QUEUED past its deadline: ended
-- CANCELLED (DEADLINE_EXCEEDED) instead of started.
local status = redis.call("HGET", KEYS[1], "status")
if status == "QUEUED" and past_deadline() then  -- never starts
  redis.call("HSET", KEYS[1], "deadline_exceeded", "1")
  cancel_instead(7)
  terminate(7, "")
  return redis.call("HGETALL", KEYS[1])
elseif status == "QUEUED" then
  advance_round()
  leave_queue(ARGV[1])
  redis.call("HSET", KEYS[1], "status", "RUNNING", "stage", "starting")
elseif status == "RUNNING" then
  if redis.call("HGET", KEYS[1], "run") == ARGV[6] then return redis.call("HGETALL", KEYS[1]) end
  if lease_alive(ARGV[1]) then return nil end
  local lost = redis.call("HINCRBY", KEYS[1], "lost", 1)
  local cancelled = redis.call("HGET", KEYS[1], "cancel_requested") == "1"
  if cancelled or lost >= tonumber(ARGV[3]) then
    if cancelled then cancel_instead(7) end
    terminate(7, "")
    return redis.call("HGETALL", KEYS[1])
  end
  redis.call("HSET", KEYS[1], "stage", "restarting")
else
  return nil
end
redis.call("HSET", KEYS[1], "started_at", ARGV[2], "worker", ARGV[5], "run", ARGV[6])
redis.call("HDEL", KEYS[1], "step", "total_steps")
redis.call("HINCRBY", KEYS[1], "attempts", 1)
redis.call("ZADD", KEYS[9], now_ms() + tonumber(ARGV[4]), ARGV[1])
redis.call("ZREM", KEYS[10], ARGV[1])
redis.call("HINCRBY", KEYS[1], "seq", 1)
return redis.call("HGETALL", KEYS[1])
