"""Lua scripts for the task store: every state change is one atomic step in Redis.

Atomic so that a reader never sees SUCCEEDED without its result, a CANCELLED task
never turns SUCCEEDED, and the sequence number bumps with the change it numbers.
Each script returns the record after the change (HGETALL), or nil when it did
not apply.

Every script but PROGRESS and RENEW takes the task's keys in this order:
  1 record  2 result  3 preview  4 idempotency key  5 owner index
  6 owner's live-task counter  7 queue  8 queue tickets  9 leases
  10 undispatched tasks  11 task counts  12.. inputs
A worker's writes carry the attempt number it started (a fencing token): once
another worker has taken the task over, the old one's writes are refused.

Time for leases and dispatch deadlines is Redis's own clock (TIME), so workers
on hosts whose clocks disagree still agree on which lease has run out.
"""

# Shared by the scripts below. `terminate` ends a task; its ARGV block, from
# `first`: status, finished_at, expires_at, ttl, stage, error_code,
# error_message, result_json. The task's keys get the TTL, inputs are deleted,
# and the owner index expires once the owner has no live task left. Every task
# ends here exactly once, so this is where the task counts (see store.TaskCounts)
# count it; they live as long as tasks keep ending, like everything else.
# `requeue` puts a RUNNING task back in its queue and marks it undispatched
# until whoever requeued it has sent its message (see store.dispatched).
_COMMON = """
-- Leaves the queue; an empty queue's ticket counter goes too (tickets only order
-- waiting tasks, so the count may restart), leaving no key behind without a TTL.
local function leave_queue(id)
  redis.call("ZREM", KEYS[7], id)
  if redis.call("ZCARD", KEYS[7]) == 0 then redis.call("DEL", KEYS[8]) end
end

local function now_ms()
  local t = redis.call("TIME")
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function terminate(first, result_bytes)
  local status = ARGV[first]
  local ttl = tonumber(ARGV[first + 3])
  local id = redis.call("HGET", KEYS[1], "id")
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
  local kind = redis.call("HGET", KEYS[1], "kind")
  redis.call("HINCRBY", KEYS[11], "finished:" .. kind .. ":" .. status, 1)
  if status == "FAILED" then
    redis.call("HINCRBY", KEYS[11], "failed:" .. kind .. ":" .. ARGV[first + 5], 1)
  end
  redis.call("EXPIRE", KEYS[11], ttl)
  redis.call("EXPIRE", KEYS[1], ttl)
  redis.call("EXPIRE", KEYS[3], ttl)
  redis.call("EXPIRE", KEYS[4], ttl)
  leave_queue(id)
  redis.call("ZREM", KEYS[9], id)
  redis.call("ZREM", KEYS[10], id)
  for i = 12, #KEYS do redis.call("DEL", KEYS[i]) end
  if redis.call("DECR", KEYS[6]) <= 0 then
    redis.call("DEL", KEYS[6])
    redis.call("EXPIRE", KEYS[5], ttl)
  end
end

local function cancel_instead(first)
  ARGV[first] = "CANCELLED"; ARGV[first + 4] = "cancelled"
  ARGV[first + 5] = "CANCELLED"; ARGV[first + 6] = "the task was cancelled"
end

local function requeue(stage, dispatch_ms)
  local id = redis.call("HGET", KEYS[1], "id")
  redis.call("HSET", KEYS[1], "status", "QUEUED", "stage", stage)
  redis.call("HDEL", KEYS[1], "step", "total_steps", "worker", "run", "started_at")
  redis.call("ZREM", KEYS[9], id)
  redis.call("ZADD", KEYS[7], redis.call("INCR", KEYS[8]), id)
  redis.call("ZADD", KEYS[10], now_ms() + tonumber(dispatch_ms), id)
  redis.call("HINCRBY", KEYS[1], "seq", 1)
end

local function lease_alive(id)
  local expiry = redis.call("ZSCORE", KEYS[9], id)
  return expiry and tonumber(expiry) > now_ms()
end
"""

# ARGV: id, created_us, use_idempotency, record key prefix, dispatch_ms,
# nfields, fields..., inputs... An idempotency key whose task is gone (evicted,
# deleted) is taken over. The task counts as undispatched until its message is
# sent; a sender that dies in between leaves it for the sweeper after dispatch_ms.
CREATE = (
    _COMMON
    + """
if ARGV[3] == "1" then
  local existing = redis.call("GET", KEYS[4])
  if existing and redis.call("EXISTS", ARGV[4] .. existing) == 1 then
    return {0, existing}
  end
  redis.call("SET", KEYS[4], ARGV[1])
end
local nfields = tonumber(ARGV[6])
redis.call("HSET", KEYS[1], unpack(ARGV, 7, 6 + nfields * 2))
redis.call("HINCRBY", KEYS[11], "submitted:" .. redis.call("HGET", KEYS[1], "kind"), 1)
redis.call("ZADD", KEYS[7], redis.call("INCR", KEYS[8]), ARGV[1])
redis.call("ZADD", KEYS[5], ARGV[2], ARGV[1])
redis.call("PERSIST", KEYS[5])
redis.call("INCR", KEYS[6])
redis.call("ZADD", KEYS[10], now_ms() + tonumber(ARGV[5]), ARGV[1])
local first_input = 7 + nfields * 2
for i = 12, #KEYS do redis.call("SET", KEYS[i], ARGV[first_input + i - 12]) end
return {1, ARGV[1]}
"""
)

# ARGV: id, started_at, max_attempts, lease_ms, worker, run, then the terminate
# block (WORKER_LOST). QUEUED -> RUNNING under a new attempt number and a lease.
# RUNNING under this very run: a retried START whose reply was lost; it applied.
# RUNNING under a live lease: someone runs it; a duplicate message is dropped.
# RUNNING under a lapsed lease: its worker died and this is Dramatiq redelivering
# the message; take it over while attempts remain, else end it WORKER_LOST (or
# CANCELLED, if a cancel was asked for meanwhile).
START = (
    _COMMON
    + """
local status = redis.call("HGET", KEYS[1], "status")
if status == "QUEUED" then
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
"""
)

# KEYS: record, leases.  ARGV: id, attempt, lease_ms.
# 1 when the lease was extended, 0 when this attempt no longer holds the task.
# A renewal replaces the lease's score and grows nothing, so it goes through a full
# Redis too: Redis refuses a script's first write that may take memory (ZADD), but
# never one after the script has written (ZREM), as it cannot stop a script halfway.
# Otherwise every lease would lapse while Redis is full and its live worker count
# as lost.
RENEW = """
if redis.call("HGET", KEYS[1], "status") ~= "RUNNING"
   or redis.call("HGET", KEYS[1], "attempts") ~= ARGV[2] then return 0 end
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call("ZREM", KEYS[2], ARGV[1])
redis.call("ZADD", KEYS[2], now + tonumber(ARGV[3]), ARGV[1])
return 1
"""

# ARGV: id, max_attempts, dispatch_ms, then the terminate block (WORKER_LOST).
# A RUNNING task whose lease lapsed lost its worker: requeued while attempts
# remain, else ended WORKER_LOST (CANCELLED if a cancel was asked for).
REAP = (
    _COMMON
    + """
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
"""
)

# ARGV: id, attempt, dispatch_ms, then the terminate block (CANCELLED).
# A worker shutting down hands its task back: QUEUED again, without counting it
# as lost; a task whose cancel was asked for ends CANCELLED instead.
REQUEUE = (
    _COMMON
    + """
if redis.call("HGET", KEYS[1], "status") ~= "RUNNING"
   or redis.call("HGET", KEYS[1], "attempts") ~= ARGV[2] then return nil end
if redis.call("HGET", KEYS[1], "cancel_requested") == "1" then
  terminate(4, "")
else
  requeue("requeued: its worker shut down", ARGV[3])
end
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

# ARGV: attempt, expected status, the terminate block from ARGV[3], result
# bytes in ARGV[11]. Applies only to a task still in the status and attempt the
# writer knows. A RUNNING task whose cancel was requested ends CANCELLED
# whatever the worker says.
FINISH = (
    _COMMON
    + """
local status = redis.call("HGET", KEYS[1], "status")
if status ~= ARGV[2] or redis.call("HGET", KEYS[1], "attempts") ~= ARGV[1] then
  return nil
end
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
    _COMMON
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
