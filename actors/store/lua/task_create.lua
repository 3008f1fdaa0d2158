-- ARGV: id, created_us, use_idempotency, record key prefix, dispatch_ms,
-- deadline_seconds ("" = none), nfields, fields..., inputs... An idempotency key
-- whose task is gone (evicted, deleted) is taken over. The task counts as
-- undispatched until its message is sent; a sender that dies in between leaves it
-- for the sweeper after dispatch_ms. A deadline is set on Redis's clock; returns
-- {1, id, deadline_ms or "", queue score} when created, {0, existing id} otherwise.
if ARGV[3] == "1" then
  local existing = redis.call("GET", KEYS[4])
  if existing and redis.call("EXISTS", ARGV[4] .. existing) == 1 then
    return {0, existing}
  end
  redis.call("SET", KEYS[4], ARGV[1])
end
local nfields = tonumber(ARGV[7])
redis.call("HSET", KEYS[1], unpack(ARGV, 8, 7 + nfields * 2))
local deadline = ""
if ARGV[6] ~= "" then
  deadline = now_ms() + tonumber(ARGV[6]) * 1000
  redis.call("HSET", KEYS[1], "deadline_ms", deadline)
  redis.call("ZADD", KEYS[13], deadline, ARGV[1])
end
redis.call("HINCRBY", KEYS[11], "submitted:" .. redis.call("HGET", KEYS[1], "kind"), 1)
join_queue(ARGV[1])
-- The position its subscribers see first (see task_touch.lua).
redis.call("HSET", KEYS[1], "position", redis.call("ZRANK", KEYS[7], ARGV[1]) + 1)
redis.call("ZADD", KEYS[5], ARGV[2], ARGV[1])
redis.call("PERSIST", KEYS[5])
redis.call("INCR", KEYS[6])
redis.call("ZADD", KEYS[10], now_ms() + tonumber(ARGV[5]), ARGV[1])
local first_input = 8 + nfields * 2
for i = 15, #KEYS do redis.call("SET", KEYS[i], ARGV[first_input + i - 15]) end
return {1, ARGV[1], tostring(deadline), redis.call("HGET", KEYS[1], "queue_score")}
