"""Lua scripts for the task store: every state change is one atomic step in Redis.

Atomic so that a reader never sees SUCCEEDED without its result, a CANCELLED task
never turns SUCCEEDED, and the sequence number bumps with the change it numbers.
Each script returns the record after the change (HGETALL), or nil when it did
not apply.

Every script but PROGRESS takes the task's keys in this order:
  1 record  2 result  3 preview  4 idempotency key  5 owner index
  6 owner's live-task counter  7 queue  8 queue tickets  9.. inputs
A worker's writes carry the attempt number it started (a fencing token): once
another worker has taken the task over, the old one's writes are refused.
"""

# Ends a task. ARGV from `first`: status, finished_at, expires_at, ttl, stage,
# error_code, error_message, result_json. The task's keys get the TTL, inputs are
# deleted, and the owner index expires once the owner has no live task left.
_TERMINATE = """
local function terminate(first, result_bytes)
  local status = ARGV[first]
  local ttl = tonumber(ARGV[first + 3])
  local fields = {"status", status, "finished_at", ARGV[first + 1],
                  "expires_at", ARGV[first + 2], "stage", ARGV[first + 4]}
  if status == "SUCCEEDED" then
    table.insert(fields, "progress"); table.insert(fields, "1.0")
    table.insert(fields, "result"); table.insert(fields, ARGV[first + 7])
    redis.call("SET", KEYS[2], result_bytes, "EX", ttl)
  else
    table.insert(fields, "error_code"); table.insert(fields, ARGV[first + 5])
    table.insert(fields, "error_message"); table.insert(fields, ARGV[first + 6])
  end
  redis.call("HSET", KEYS[1], unpack(fields))
  redis.call("HINCRBY", KEYS[1], "seq", 1)
  redis.call("EXPIRE", KEYS[1], ttl)
  redis.call("EXPIRE", KEYS[3], ttl)
  redis.call("EXPIRE", KEYS[4], ttl)
  redis.call("ZREM", KEYS[7], redis.call("HGET", KEYS[1], "id"))
  for i = 9, #KEYS do redis.call("DEL", KEYS[i]) end
  if redis.call("DECR", KEYS[6]) <= 0 then
    redis.call("DEL", KEYS[6])
    redis.call("EXPIRE", KEYS[5], ttl)
  end
end

local function cancel_instead(first)
  ARGV[first] = "CANCELLED"; ARGV[first + 4] = "cancelled"
  ARGV[first + 5] = "CANCELLED"; ARGV[first + 6] = "the task was cancelled"
end
"""

# ARGV: id, created_us, use_idempotency, record key prefix, nfields, fields..., inputs...
# An idempotency key whose task is gone (evicted, deleted) is taken over.
CREATE = """
if ARGV[3] == "1" then
  local existing = redis.call("GET", KEYS[4])
  if existing and redis.call("EXISTS", ARGV[4] .. existing) == 1 then
    return {0, existing}
  end
  redis.call("SET", KEYS[4], ARGV[1])
end
local nfields = tonumber(ARGV[5])
redis.call("HSET", KEYS[1], unpack(ARGV, 6, 5 + nfields * 2))
redis.call("ZADD", KEYS[7], redis.call("INCR", KEYS[8]), ARGV[1])
redis.call("ZADD", KEYS[5], ARGV[2], ARGV[1])
redis.call("PERSIST", KEYS[5])
redis.call("INCR", KEYS[6])
local first_input = 6 + nfields * 2
for i = 9, #KEYS do redis.call("SET", KEYS[i], ARGV[first_input + i - 9]) end
return {1, ARGV[1]}
"""

# ARGV: id, started_at, max_attempts, then the terminate block (WORKER_LOST).
# QUEUED -> RUNNING. RUNNING means the message was redelivered because the worker
# holding it died: take it over while attempts remain, else end it WORKER_LOST
# (or CANCELLED, if a cancel was asked for meanwhile).
START = (
    _TERMINATE
    + """
local status = redis.call("HGET", KEYS[1], "status")
if status == "QUEUED" then
  redis.call("ZREM", KEYS[7], ARGV[1])
  redis.call("HSET", KEYS[1], "status", "RUNNING", "started_at", ARGV[2], "stage", "starting")
elseif status == "RUNNING" then
  local attempts = tonumber(redis.call("HGET", KEYS[1], "attempts") or "0")
  local cancelled = redis.call("HGET", KEYS[1], "cancel_requested") == "1"
  if cancelled or attempts >= tonumber(ARGV[3]) then
    if cancelled then cancel_instead(4) end
    terminate(4, "")
    return redis.call("HGETALL", KEYS[1])
  end
  redis.call("HSET", KEYS[1], "stage", "restarting")
else
  return nil
end
redis.call("HDEL", KEYS[1], "step", "total_steps")
redis.call("HINCRBY", KEYS[1], "attempts", 1)
redis.call("HINCRBY", KEYS[1], "seq", 1)
return redis.call("HGETALL", KEYS[1])
"""
)

# KEYS: record, preview.  ARGV: attempt, progress, stage, step, total_steps,
# preview_w, preview_h, preview_bytes ("" = none). Once a cancel is requested
# nothing more is written: the worker sees the flag and stops.
PROGRESS = """
if redis.call("HGET", KEYS[1], "status") ~= "RUNNING"
   or redis.call("HGET", KEYS[1], "attempts") ~= ARGV[1] then return nil end
if redis.call("HGET", KEYS[1], "cancel_requested") == "1" then
  return redis.call("HGETALL", KEYS[1])
end
local old = tonumber(redis.call("HGET", KEYS[1], "progress") or "0")
if tonumber(ARGV[2]) > old then redis.call("HSET", KEYS[1], "progress", ARGV[2]) end
redis.call("HSET", KEYS[1], "stage", ARGV[3])
if ARGV[4] ~= "" then redis.call("HSET", KEYS[1], "step", ARGV[4]) end
if ARGV[5] ~= "" then redis.call("HSET", KEYS[1], "total_steps", ARGV[5]) end
if ARGV[8] ~= "" then
  redis.call("SET", KEYS[2], ARGV[8])
  redis.call("HSET", KEYS[1], "preview_width", ARGV[6], "preview_height", ARGV[7])
end
redis.call("HINCRBY", KEYS[1], "seq", 1)
return redis.call("HGETALL", KEYS[1])
"""

# ARGV: attempt ("" = any), allowed-from statuses (comma list), the terminate
# block from ARGV[3], result bytes in ARGV[11]. A RUNNING task whose cancel was
# requested ends CANCELLED whatever the worker says.
FINISH = (
    _TERMINATE
    + """
local status = redis.call("HGET", KEYS[1], "status")
if not status then return nil end
if not string.find("," .. ARGV[2] .. ",", "," .. status .. ",", 1, true) then return nil end
if ARGV[1] ~= "" and redis.call("HGET", KEYS[1], "attempts") ~= ARGV[1] then return nil end
if status == "RUNNING" and redis.call("HGET", KEYS[1], "cancel_requested") == "1" then
  cancel_instead(3)
end
terminate(3, ARGV[11])
return redis.call("HGETALL", KEYS[1])
"""
)

# ARGV: the terminate block for CANCELLED.
# QUEUED: cancelled at once. RUNNING: flagged; the worker stops at its next step.
CANCEL = (
    _TERMINATE
    + """
local status = redis.call("HGET", KEYS[1], "status")
if not status then return nil end
if status == "QUEUED" then
  terminate(1, "")
elseif status == "RUNNING" and redis.call("HGET", KEYS[1], "cancel_requested") ~= "1" then
  redis.call("HSET", KEYS[1], "cancel_requested", "1", "stage", "cancelling")
  redis.call("HINCRBY", KEYS[1], "seq", 1)
end
return redis.call("HGETALL", KEYS[1])
"""
)
