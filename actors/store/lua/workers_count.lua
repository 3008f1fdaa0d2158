-- KEYS: workers. ARGV: stale_after (ms). Read-only: how many announced within the window.
return redis.call("ZCOUNT", KEYS[1], string.format("%d", now - tonumber(ARGV[1])), "+inf")
