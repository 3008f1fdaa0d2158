"""The Lua scripts of the store, as `.lua` files in `lua/` beside this module, each read
once. The task store's scripts make every state change one atomic step in Redis.

Atomic so that a reader never sees SUCCEEDED without its result, a CANCELLED task
never turns SUCCEEDED, and the sequence number bumps with the change it numbers.
Each script returns the record after the change (HGETALL), or nil when it did
not apply.

Every script but PROGRESS and RENEW takes the task's keys in this order:
  1 record  2 result  3 preview  4 idempotency key  5 owner index
  6 owner's live-task counter  7 queue  8 queue order  9 leases
  10 undispatched tasks  11 task counts  12 the result's further images
  13 deadlines  14 due webhook deliveries  15.. inputs
A worker's writes carry the attempt number it started (a fencing token): once
another worker has taken the task over, the old one's writes are refused.

A script may use the functions of library files (`task_library.lua`,
`admission_library.lua`, `workers_library.lua`), which `load` puts in front of it: Redis
runs one source per script, and keeps none between them.

Time for leases, dispatch and task deadlines is Redis's own clock (TIME), so workers
on hosts whose clocks disagree still agree on which lease has run out.
"""

from __future__ import annotations

import functools
from importlib.resources import files


@functools.cache
def _source(name: str) -> str:
    return (files(__package__) / "lua" / f"{name}.lua").read_text(encoding="utf-8")


def load(name: str, *, library: str | tuple[str, ...] = ()) -> str:
    """The source of `lua/<name>.lua`, after that of each `lua/<library>.lua` given."""
    libraries = (library,) if isinstance(library, str) else library
    return "".join(_source(each) for each in (*libraries, name))


ADMIT = load("admit", library="admission_library")
# Admission decided in the same step as the record (see lua/task_create.lua).
CREATE = load("task_create", library=("task_library", "admission_library"))
START = load("task_start", library="task_library")
PICK = load("queue_pick")
RUNTIMES_RECORD = load("runtimes_record")
TOUCH = load("task_touch", library="task_library")
RENEW = load("task_renew")
REAP = load("task_reap", library="task_library")
REQUEUE = load("task_requeue", library="task_library")
PROGRESS = load("task_progress", library="task_library")
FINISH = load("task_finish", library="task_library")
CANCEL = load("task_cancel", library="task_library")
DEADLINE = load("task_deadline", library="task_library")
WEBHOOK_ENQUEUE = load("webhook_enqueue")
WEBHOOK_CLAIM = load("webhook_claim")
WEBHOOK_SETTLE = load("webhook_settle")
