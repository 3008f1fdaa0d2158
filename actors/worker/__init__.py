"""The worker's side of the job system: running a task (runner, reporter, lease,
cancellation), recovering what dead processes left (sweeper), and the Dramatiq
middleware of a worker process (preload, presence, lifecycle)."""
