-- KEYS: due webhook deliveries.  ARGV: delivery name, interval_ms. Due now, or with
-- an interval at the end of the current window of that many ms (Redis clock), named
-- after the window: one delivery per window, whose body is made when it is first
-- attempted, so the latest state of the window wins. Returns 1 when added.
local t = redis.call("TIME")
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local interval = tonumber(ARGV[2])
local name, due = ARGV[1], now
if interval > 0 then
  local window = math.floor(now / interval)
  name = name .. ":" .. string.format("%d", window)
  due = (window + 1) * interval
end
return redis.call("ZADD", KEYS[1], "NX", string.format("%d", due), name)
