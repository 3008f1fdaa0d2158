"""Lua scripts for the task store: every state change is one atomic step in Redis.

Atomic so that a reader never sees SUCCEEDED without its result, a CANCELLED task
never turns SUCCEEDED, and the sequence number bumps with the change it numbers.
Each script returns the record after the change (HGETALL), or nil when it did
not apply.
"""

# Shared by the scripts that end a task. KEYS[1] is the record; ARGV carries, in
# order from `first`: status, finished_at, expires_at, ttl, stage, error_code,
# error_message, result_json. KEYS[2..] are the task's other keys (result,
# preview, inputs, idempotency), all given the TTL; inputs are deleted instead.
_TERMINATE = """
local function terminate(first, result_bytes, ninputs)
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
  redis.call("EXPIRE", KEYS[5], ttl)
  redis.call("ZREM", KEYS[6], redis.call("HGET", KEYS[1], "id"))
  for i = 7, 6 + ninputs do redis.call("DEL", KEYS[i]) end
end
"""

# KEYS: record, owner index, queue, queue tickets, idempotency key, input keys...
# ARGV: id, created_ms, use_idempotency, idempotency_ttl, nfields, fields..., inputs...
CREATE = """
if ARGV[3] == "1" then
  local existing = redis.call("GET", KEYS[5])
  if existing then return {0, existing} end
  redis.call("SET", KEYS[5], ARGV[1], "EX", ARGV[4])
end
local nfields = tonumber(ARGV[5])
redis.call("HSET", KEYS[1], unpack(ARGV, 6, 5 + nfields * 2))
redis.call("ZADD", KEYS[3], redis.call("INCR", KEYS[4]), ARGV[1])
redis.call("ZADD", KEYS[2], ARGV[2], ARGV[1])
redis.call("PERSIST", KEYS[2])
local first_input = 6 + nfields * 2
for i = 6, #KEYS do redis.call("SET", KEYS[i], ARGV[first_input + i - 6]) end
return {1, ARGV[1]}
"""

# KEYS: record, queue.  ARGV: id, started_at, stage
START = """
if redis.call("HGET", KEYS[1], "status") ~= "QUEUED" then return nil end
redis.call("ZREM", KEYS[2], ARGV[1])
redis.call("HSET", KEYS[1], "status", "RUNNING", "started_at", ARGV[2], "stage", ARGV[3])
redis.call("HDEL", KEYS[1], "step", "total_steps")
redis.call("HINCRBY", KEYS[1], "attempts", 1)
redis.call("HINCRBY", KEYS[1], "seq", 1)
return redis.call("HGETALL", KEYS[1])
"""

# KEYS: record, preview.  ARGV: progress, stage, step, total_steps, preview_w, preview_h,
# preview_bytes. Empty strings keep the last step and mean "no new preview".
PROGRESS = """
if redis.call("HGET", KEYS[1], "status") ~= "RUNNING" then return nil end
local old = tonumber(redis.call("HGET", KEYS[1], "progress") or "0")
if tonumber(ARGV[1]) > old then redis.call("HSET", KEYS[1], "progress", ARGV[1]) end
redis.call("HSET", KEYS[1], "stage", ARGV[2])
if ARGV[3] ~= "" then redis.call("HSET", KEYS[1], "step", ARGV[3], "total_steps", ARGV[4]) end
if ARGV[7] ~= "" then
  redis.call("SET", KEYS[2], ARGV[7])
  redis.call("HSET", KEYS[1], "preview_width", ARGV[5], "preview_height", ARGV[6])
end
redis.call("HINCRBY", KEYS[1], "seq", 1)
return redis.call("HGETALL", KEYS[1])
"""

# KEYS: record, result, preview, idempotency, owner index, queue, input keys...
# ARGV: allowed-from statuses (comma list), then the terminate block, then result bytes.
# A RUNNING task whose cancel was requested ends CANCELLED whatever the worker says.
FINISH = (
    _TERMINATE
    + """
local status = redis.call("HGET", KEYS[1], "status")
if not status then return nil end
if not string.find("," .. ARGV[1] .. ",", "," .. status .. ",", 1, true) then
  return nil
end
if status == "RUNNING" and redis.call("HGET", KEYS[1], "cancel_requested") == "1"
   and ARGV[2] ~= "CANCELLED" then
  ARGV[2] = "CANCELLED"; ARGV[6] = "cancelled"
  ARGV[7] = "CANCELLED"; ARGV[8] = "the task was cancelled"
end
terminate(2, ARGV[10], #KEYS - 6)
return redis.call("HGETALL", KEYS[1])
"""
)

# KEYS: as FINISH.  ARGV: the terminate block for CANCELLED.
# QUEUED: cancelled at once. RUNNING: flagged; the worker stops at its next step.
CANCEL = (
    _TERMINATE
    + """
local status = redis.call("HGET", KEYS[1], "status")
if not status then return nil end
if status == "QUEUED" then
  terminate(1, "", #KEYS - 6)
elseif status == "RUNNING" and redis.call("HGET", KEYS[1], "cancel_requested") ~= "1" then
  redis.call("HSET", KEYS[1], "cancel_requested", "1", "stage", "cancelling")
  redis.call("HINCRBY", KEYS[1], "seq", 1)
end
return redis.call("HGETALL", KEYS[1])
"""
)
