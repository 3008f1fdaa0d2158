-- KEYS: workers. ARGV: stale_after (ms). Drops members past the window; returns the
-- rest with their last announcement, oldest first.
redis.call("ZREMRANGEBYSCORE", KEYS[1], "-inf",
           string.format("(%d", now - tonumber(ARGV[1])))
return redis.call("ZRANGE", KEYS[1], 0, -1, "WITHSCORES")
