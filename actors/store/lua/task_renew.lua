-- KEYS: record, leases.  ARGV: id, attempt, lease_ms.
-- 1 when the lease was extended, 0 when this attempt no longer holds the task.
-- A renewal replaces the lease's score and grows nothing, so it goes through a full
-- Redis too: Redis refuses a script's first write that may take memory (ZADD), but
-- never one after the script has written (ZREM), as it cannot stop a script halfway.
-- Otherwise every lease would lapse while Redis is full and its live worker count
-- as lost.
if redis.call("HGET", KEYS[1], "status") ~= "RUNNING"
   or redis.call("HGET", KEYS[1], "attempts") ~= ARGV[2] then return 0 end
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call("ZREM", KEYS[2], ARGV[1])
redis.call("ZADD", KEYS[2], now + tonumber(ARGV[3]), ARGV[1])
return 1
