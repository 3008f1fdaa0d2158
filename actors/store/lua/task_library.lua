-- Shared by the scripts below. `terminate` ends a task; its ARGV block, from
-- `first`: status, finished_at, expires_at, ttl, stage, error_code,
-- error_message, result_json. A SUCCEEDED task's first image is `result_bytes`, its
-- others ARGV[extras..] when `extras` is given (into the results hash, fields
-- "1".."n-1"). The task's keys get the TTL, inputs are deleted,
-- and the owner index expires once the owner has no live task left. Every task
-- ends here exactly once, so this is where the task counts (see actors.store.counts)
-- count it; they live as long as tasks keep ending, like everything else.
-- `requeue` puts a RUNNING task back at the front of its queue and marks it undispatched
-- until whoever requeued it has sent its message (see TaskStore.dispatched).
-- A queue's order (KEYS[8], a hash) is fair queuing by rounds within each priority
-- band: a new task of owner o in band b takes round max(v<b>, o<b>:<o>), the band's
-- round now (that of the last task started) or the one after o's previous task,
-- whichever is later; ties go by ticket (submission order). Its score packs
-- (band, round, ticket) into one exact double, so ZRANK is its position:
-- band * 2^51 + round * 2^26 + ticket mod 2^26.
local TICKETS, ROUNDS, BAND_SPAN = 67108864, 33554432, 2251799813685248
local BANDS = {HIGH = 0, NORMAL = 1, LOW = 2}

local function queue_place()
  local band = BANDS[redis.call("HGET", KEYS[1], "priority") or "NORMAL"] or 1
  local mine = "o" .. band .. ":" .. redis.call("HGET", KEYS[1], "owner")
  local round = math.max(tonumber(redis.call("HGET", KEYS[8], "v" .. band) or "0"),
                         tonumber(redis.call("HGET", KEYS[8], mine) or "0"))
  round = math.min(round, ROUNDS - 1)
  redis.call("HSET", KEYS[8], mine, round + 1)
  local ticket = redis.call("HINCRBY", KEYS[8], "ticket", 1) % TICKETS
  return string.format("%.0f", band * BAND_SPAN + round * TICKETS + ticket)
end

-- Joins the queue: a new task at its place; one handed back or requeued after its
-- worker was lost (it has a place already) at the front of its band, as it has
-- waited longest (every waiting task's round is at least the band's round now).
local function join_queue(id)
  local score = redis.call("HGET", KEYS[1], "queue_score")
  if score then
    local band = math.floor(tonumber(score) / BAND_SPAN)
    local now = tonumber(redis.call("HGET", KEYS[8], "v" .. band) or "0")
    score = string.format("%.0f", band * BAND_SPAN + now * TICKETS)
  else
    score = queue_place()
  end
  redis.call("HSET", KEYS[1], "queue_score", score)
  redis.call("ZADD", KEYS[7], score, id)
end

-- The band's round moves on to that of the task starting.
local function advance_round()
  local score = tonumber(redis.call("HGET", KEYS[1], "queue_score") or "")
  if not score then return end
  local band = math.floor(score / BAND_SPAN)
  local round = math.floor((score - band * BAND_SPAN) / TICKETS)
  local now = tonumber(redis.call("HGET", KEYS[8], "v" .. band) or "0")
  if round > now then redis.call("HSET", KEYS[8], "v" .. band, round) end
end

-- A waiting task that ends (cancelled, past its deadline) gives its owner's round
-- back when it was the owner's last: the owner's next task is not put behind a round
-- it never used. (A requeued task, ticket 0, took no round of its own.)
local function give_back_round(id)
  if not redis.call("ZSCORE", KEYS[7], id) then return end
  local score = tonumber(redis.call("HGET", KEYS[1], "queue_score") or "")
  if not score then return end
  local band = math.floor(score / BAND_SPAN)
  local round = math.floor((score - band * BAND_SPAN) / TICKETS)
  if score - band * BAND_SPAN - round * TICKETS == 0 then return end
  local mine = "o" .. band .. ":" .. redis.call("HGET", KEYS[1], "owner")
  if tonumber(redis.call("HGET", KEYS[8], mine) or "-1") == round + 1 then
    redis.call("HSET", KEYS[8], mine, round)
  end
end

-- Leaves the queue; an empty queue's order goes too (it only orders waiting tasks,
-- so rounds and tickets may restart), leaving no key behind without a TTL.
local function leave_queue(id)
  redis.call("ZREM", KEYS[7], id)
  if redis.call("ZCARD", KEYS[7]) == 0 then redis.call("DEL", KEYS[8]) end
end

local function now_ms()
  local t = redis.call("TIME")
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- The same end counted again in the hash of the minute it happened in (Redis's
-- clock), for the operators' recent failures and throughput (actors.store.recent).
-- Its name extends the counts key's, so a hash-tagged prefix keeps it in the slot.
-- It lives an hour and a minute (what a reader may ask for), or the task TTL if
-- shorter: no key of the store outlives that.
local MINUTE_TTL = 3660
local function count_minute(kind, status, code, ttl)
  local key = KEYS[11] .. ":minute:" .. math.floor(now_ms() / 60000)
  redis.call("HINCRBY", key, "finished:" .. kind .. ":" .. status, 1)
  if status == "FAILED" then
    redis.call("HINCRBY", key, "failed:" .. kind .. ":" .. code, 1)
  end
  redis.call("EXPIRE", key, math.min(MINUTE_TTL, ttl))
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
  count_minute(kind, status, ARGV[first + 5], ttl)
  redis.call("EXPIRE", KEYS[1], ttl)
  redis.call("EXPIRE", KEYS[3], ttl)
  redis.call("EXPIRE", KEYS[4], ttl)
  give_back_round(id)
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
  join_queue(id)
  redis.call("ZADD", KEYS[10], now_ms() + tonumber(dispatch_ms), id)
  redis.call("HINCRBY", KEYS[1], "seq", 1)
end

local function lease_alive(id)
  local expiry = redis.call("ZSCORE", KEYS[9], id)
  return expiry and tonumber(expiry) > now_ms()
end
