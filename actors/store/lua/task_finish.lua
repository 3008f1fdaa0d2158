-- ARGV: attempt, expected status, the terminate block from ARGV[3], the result's
-- first image in ARGV[11], its other images (if any) from ARGV[12]. Applies only to
-- a task still in the status and attempt the writer knows. A RUNNING task whose
-- cancel was requested ends CANCELLED whatever the worker says (and nothing of its
-- result is written).
local status = redis.call("HGET", KEYS[1], "status")
if status ~= ARGV[2] or redis.call("HGET", KEYS[1], "attempts") ~= ARGV[1] then
  return nil
end
if status == "RUNNING" and redis.call("HGET", KEYS[1], "cancel_requested") == "1" then
  cancel_instead(3)
end
terminate(3, ARGV[11], 12)
return redis.call("HGETALL", KEYS[1])
