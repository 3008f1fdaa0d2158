-- KEYS: workers, worker:<id>. ARGV: id, stale_after (ms), started (ms, "" = now),
-- then field/value pairs. Returns when the worker started (ms).
-- Dropping the stale members comes first: an announcement rewrites what the worker
-- wrote before and grows Redis by one small hash per worker at most, so it must go
-- through a full Redis (else every live worker would look gone), and Redis refuses
-- only a script's first write that may take memory, never one after it has written.
local stale = tonumber(ARGV[2])
local started = ARGV[3]
if started == "" then started = string.format("%d", now) end
redis.call("ZREMRANGEBYSCORE", KEYS[1], "-inf", string.format("(%d", now - stale))
redis.call("HSET", KEYS[2], "started", started, "last_seen", string.format("%d", now),
           unpack(ARGV, 4))
redis.call("PEXPIRE", KEYS[2], stale)
redis.call("ZADD", KEYS[1], now, ARGV[1])
redis.call("PEXPIRE", KEYS[1], stale)
return started
