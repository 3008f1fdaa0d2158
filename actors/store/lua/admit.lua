-- KEYS: token bucket (hash), owner's live-task counter, waiting sets of every queue...
-- ARGV: now_ms, rate per s, burst, max unfinished, max queued, count.
-- Admits `count` tasks at once or none (see admission_library.lua). Returns {1} when
-- admitted, else {0, reason, retry_after_ms}.
return admit(KEYS[1], KEYS[2], 3, 1) or {1}
