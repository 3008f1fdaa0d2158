-- ARGV: id, created_us, use_idempotency, record key prefix, dispatch_ms,
-- deadline_seconds ("" = none), ninputs, admit ("1" = decide admission here), the
-- admission block (admission_library.lua's, from ARGV[9]; ignored unless admitting),
-- nfields, fields..., inputs... KEYS: the task's (scripts.py), its ninputs inputs, then
-- when admitting the owner's token bucket and every queue's waiting set.
-- An idempotency key whose task is gone (evicted, deleted) is taken over; one whose
-- task exists returns it and is never refused. Admission comes next: a refusal
-- writes nothing. The task counts as undispatched until its message is sent; a sender
-- that dies in between leaves it for the sweeper after dispatch_ms. A deadline is set
-- on Redis's clock. Returns {1, id, deadline_ms or "", queue score} when created,
-- {0, existing id} for a known idempotency key, {-1, reason, retry_after_ms} refused.
local ninputs = tonumber(ARGV[7])
local existing = ARGV[3] == "1" and redis.call("GET", KEYS[4])
if existing and redis.call("EXISTS", ARGV[4] .. existing) == 1 then
  return {0, existing}
end
if ARGV[8] == "1" then
  local refused = admit(KEYS[15 + ninputs], KEYS[6], 16 + ninputs, 9)
  if refused then return {-1, refused[2], refused[3]} end
end
if ARGV[3] == "1" then redis.call("SET", KEYS[4], ARGV[1]) end
local nfields = tonumber(ARGV[15])
redis.call("HSET", KEYS[1], unpack(ARGV, 16, 15 + nfields * 2))
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
local first_input = 16 + nfields * 2
for i = 1, ninputs do redis.call("SET", KEYS[14 + i], ARGV[first_input + i - 1]) end
return {1, ARGV[1], tostring(deadline), redis.call("HGET", KEYS[1], "queue_score")}
