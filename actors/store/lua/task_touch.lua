-- ARGV: id, min_interval_ms. A QUEUED task whose queue position moved since its
-- subscribers were last told, and at least min_interval_ms ago: the position is
-- noted, the sequence bumped, the record returned (to publish as an event). Else
-- nil: several web nodes watching one task tell its subscribers once.
if redis.call("HGET", KEYS[1], "status") ~= "QUEUED" then return nil end
local rank = redis.call("ZRANK", KEYS[7], ARGV[1])
if not rank then return nil end
local position = rank + 1
if tonumber(redis.call("HGET", KEYS[1], "position") or "0") == position then return nil end
local now = now_ms()
if now - tonumber(redis.call("HGET", KEYS[1], "position_at") or "0") < tonumber(ARGV[2]) then
  return nil
end
redis.call("HSET", KEYS[1], "position", position, "position_at", now)
redis.call("HINCRBY", KEYS[1], "seq", 1)
return redis.call("HGETALL", KEYS[1])
