"""The job system: tasks recorded in Redis, run by Dramatiq workers, followed live.

- `interface`: what the API layer uses (the `Jobs` protocol and what it exchanges).
- `records`, `events`, `kinds`, `config`: the task record, the events published on
  each change, one spec per task kind, the settings `project/` hands in.
- `client/`: the web's side: submit and admission, following a task, the
  operators' overview.
- `worker/`: the worker's side: the runner, progress reporting, leases,
  cancellation, the sweeper, and the Dramatiq middleware of a worker process.
- `store/`: Redis: the task store and its keys, Lua scripts (`store/lua/`), the
  worker registry, outages.
- `queues/`: Dramatiq's Redis broker and one actor per kind.

Knows nothing of GraphQL or Django; runs `pipelines/` in workers.
"""
