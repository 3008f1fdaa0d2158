-- KEYS: the run-times hash. ARGV: the kind|model field prefix, steps, seconds, weight,
-- ttl (seconds).
-- Moving averages (exponentially weighted, `weight` for the newest run) of a task's
-- seconds and, when it ran steps, of its seconds per step; every worker adds to them.
local function blend(field, value)
  local old = redis.call("HGET", KEYS[1], field)
  local new = value
  if old then new = tonumber(old) + tonumber(ARGV[4]) * (value - tonumber(old)) end
  redis.call("HSET", KEYS[1], field, tostring(new))
end
local steps, seconds = tonumber(ARGV[2]), tonumber(ARGV[3])
blend(ARGV[1] .. "|task", seconds)
if steps > 0 then blend(ARGV[1] .. "|step", seconds / steps) end
redis.call("HINCRBY", KEYS[1], ARGV[1] .. "|runs", 1)
redis.call("EXPIRE", KEYS[1], ARGV[5])
return 1
