-- KEYS: record, preview.  ARGV: attempt, progress, stage, step, total_steps,
-- preview_w, preview_h, preview_bytes ("" = none). Once a cancel is requested
-- (by the owner, or by the task's deadline passing) nothing more is written: the
-- worker sees the flag and stops.
if redis.call("HGET", KEYS[1], "status") ~= "RUNNING"
   or redis.call("HGET", KEYS[1], "attempts") ~= ARGV[1] then return nil end
if redis.call("HGET", KEYS[1], "cancel_requested") == "1" then
  return redis.call("HGETALL", KEYS[1])
end
if past_deadline() then
  stop_for_deadline()
  return redis.call("HGETALL", KEYS[1])
end
local old = tonumber(redis.call("HGET", KEYS[1], "progress") or "0")
if tonumber(ARGV[2]) > old then redis.call("HSET", KEYS[1], "progress", ARGV[2]) end
redis.call("HSET", KEYS[1], "stage", ARGV[3])
if ARGV[4] ~= "" then redis.call("HSET", KEYS[1], "step", ARGV[4]) end
if ARGV[5] ~= "" then redis.call("HSET", KEYS[1], "total_steps", ARGV[5]) end
if ARGV[8] ~= "" then
  redis.call("SET", KEYS[2], ARGV[8])
  redis.call("HSET", KEYS[1], "preview_width", ARGV[6], "preview_height", ARGV[7])
end
redis.call("HINCRBY", KEYS[1], "seq", 1)
return redis.call("HGETALL", KEYS[1])
