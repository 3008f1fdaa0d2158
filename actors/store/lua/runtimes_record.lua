-- KEYS: the run-times hash. ARGV: the kind|model field prefix, steps, seconds, weight,
-- ttl (seconds). Exponentially weighted moments (`weight` for the newest run) of a
-- task's steps x and seconds y: mean x, mean y, mean x*x, mean x*y, from which a
-- reader fits seconds = base + steps * per_step; every worker adds to them.
local function blend(name, value)
  local field = ARGV[1] .. "|" .. name
  local old = redis.call("HGET", KEYS[1], field)
  local new = value
  if old then new = tonumber(old) + tonumber(ARGV[4]) * (value - tonumber(old)) end
  redis.call("HSET", KEYS[1], field, tostring(new))
end
local x, y = tonumber(ARGV[2]), tonumber(ARGV[3])
blend("x", x)
blend("y", y)
blend("xx", x * x)
blend("xy", x * y)
redis.call("HINCRBY", KEYS[1], ARGV[1] .. "|runs", 1)
redis.call("EXPIRE", KEYS[1], ARGV[5])
return 1
