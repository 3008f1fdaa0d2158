-- KEYS: due webhook deliveries.  ARGV: limit, lease_ms. Claims the due deliveries:
-- each one's score becomes its lease (it comes due again if its deliverer dies) and
-- is returned with it, the token the deliverer shows: {name, token, ...}.
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local due = redis.call("ZRANGEBYSCORE", KEYS[1], "-inf", now, "LIMIT", 0, tonumber(ARGV[1]))
local claimed = {}
local lease = string.format("%d", now + tonumber(ARGV[2]))
for _, name in ipairs(due) do
  redis.call("ZADD", KEYS[1], "XX", lease, name)
  table.insert(claimed, name); table.insert(claimed, lease)
end
return claimed
