-- KEYS: due webhook deliveries, the delivery's hash, the task record.
-- ARGV: name, token, http status ("" = none), error ("" = none), delivered (1/0),
-- retry_in_ms ("" = settled: delivered or given up). Applies only while the claim
-- `token` holds (else another deliverer took it over: returns 0). Counts the attempt
-- on the delivery and, while it exists, on the task's webhook status.
local held = redis.call("ZSCORE", KEYS[1], ARGV[1])
if not held or tonumber(held) ~= tonumber(ARGV[2]) then return 0 end
if ARGV[6] == "" then
  redis.call("ZREM", KEYS[1], ARGV[1])
  redis.call("DEL", KEYS[2])
else
  local t = redis.call("TIME")
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  redis.call("ZADD", KEYS[1], "XX", string.format("%d", now + tonumber(ARGV[6])), ARGV[1])
  redis.call("HINCRBY", KEYS[2], "attempts", 1)
end
if redis.call("EXISTS", KEYS[3]) == 1 then
  redis.call("HINCRBY", KEYS[3], "webhook_deliveries", 1)
  if ARGV[3] == "" then redis.call("HDEL", KEYS[3], "webhook_status")
  else redis.call("HSET", KEYS[3], "webhook_status", ARGV[3]) end
  if ARGV[4] == "" then redis.call("HDEL", KEYS[3], "webhook_error")
  else redis.call("HSET", KEYS[3], "webhook_error", ARGV[4]) end
  if ARGV[5] == "1" then redis.call("HSET", KEYS[3], "webhook_delivered", "1") end
end
return 1
