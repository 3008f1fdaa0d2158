-- Shared by the scripts below. `terminate` ends a task; its ARGV block, from
-- `first`: status, finished_at, expires_at, ttl, stage, error_code,
-- error_message, result_json. A SUCCEEDED task's first image is `result_bytes`, its
-- others ARGV[extras..] when `extras` is given (into the results hash, fields
-- "1".."n-1"). The task's keys get the TTL, inputs are deleted,
-- and the owner index expires once the owner has no live task left. Every task
-- ends here exactly once, so this is where the task counts (see actors.store.counts)
-- count it; they live as long as tasks keep ending, like everything else.
-- `requeue` puts a RUNNING task back in its queue and marks it undispatched
-- until whoever requeued it has sent its message (see TaskStore.dispatched).
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

local function terminate(first, result_bytes, extras)
  local status = ARGV[first]
  local ttl = tonumber(ARGV[first + 3])
  local id = redis.call("HGET", KEYS[1], "id")
  local fields = {"status", status, "finished_at", ARGV[first + 1],
                  "expires_at", ARGV[first + 2], "stage", ARGV[first + 4]}
  if status == "SUCCEEDED" then
    table.insert(fields, "progress"); table.insert(fields, "1.0")
    table.insert(fields, "result"); table.insert(fields, ARGV[first + 7])
    redis.call("SET", KEYS[2], result_bytes, "EX", ttl)
    if extras and #ARGV >= extras then
      local images = {}
      for i = extras, #ARGV do
        table.insert(images, tostring(i - extras + 1)); table.insert(images, ARGV[i])
      end
      redis.call("HSET", KEYS[12], unpack(images))
      redis.call("EXPIRE", KEYS[12], ttl)
    end
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
  redis.call("ZREM", KEYS[13], id)
  for i = 15, #KEYS do redis.call("DEL", KEYS[i]) end
  -- A task with a webhook asking for its end: the COMPLETED delivery is due now, in
  -- the same step as the outcome, so no path that ends a task can miss it.
  local events = redis.call("HGET", KEYS[1], "webhook_events")
  if events and string.find("," .. events .. ",", ",COMPLETED,", 1, true) then
    redis.call("ZADD", KEYS[14], "NX", now_ms(), id .. ":completed")
  end
  if redis.call("DECR", KEYS[6]) <= 0 then
    redis.call("DEL", KEYS[6])
    redis.call("EXPIRE", KEYS[5], ttl)
  end
end

local function cancel_instead(first)
  ARGV[first] = "CANCELLED"; ARGV[first + 4] = "cancelled"
  ARGV[first + 5] = "CANCELLED"; ARGV[first + 6] = "the task was cancelled"
  if redis.call("HGET", KEYS[1], "deadline_exceeded") == "1" then
    ARGV[first + 5] = "DEADLINE_EXCEEDED"
    ARGV[first + 6] = "the task did not finish by its deadline"
  end
end

-- Whether the task's deadline (if any) has passed on Redis's clock.
local function past_deadline()
  local deadline = redis.call("HGET", KEYS[1], "deadline_ms")
  return deadline and now_ms() >= tonumber(deadline)
end

-- A running task past its deadline: flagged to stop at its next step, as a cancel.
local function stop_for_deadline()
  redis.call("HSET", KEYS[1], "cancel_requested", "1", "deadline_exceeded", "1",
             "stage", "cancelling")
  redis.call("HINCRBY", KEYS[1], "seq", 1)
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
