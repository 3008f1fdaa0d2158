"""Where the store keeps what: every Redis key of the task store, named in one place.

Layout (prefix `atelier:` by default; a task's keys share its TTL once terminal):
  task:<id>               hash: the record (see records.py)
  task:<id>:result        PNG bytes of the result (its first image)
  task:<id>:results       hash: the result's further images, field "1".."n-1" -> PNG
                          bytes (absent for a one-image result); written with the
                          result by the same script, and expires with it
  task:<id>:preview       PNG bytes of the latest preview
  task:<id>:input:<name>  input bytes (images), deleted when the task ends
  owner:<owner>           sorted set of task ids by creation time (newest last)
  queue:<queue>           sorted set of waiting task ids by place (priority band, fair-
                          share round, ticket; see task_library.lua): rank = position
  queue:<queue>:order     hash: the ticket counter, each band's current round ("v<b>")
                          and each owner's next round in it ("o<b>:<owner>"); goes
                          when the queue empties
  idem:<owner>:<digest>   the task id an idempotency key maps to
  leases                  sorted set: RUNNING task id -> lease expiry (ms, Redis clock)
  undispatched            sorted set: QUEUED task id whose queue message may not have
                          been sent -> when the sweeper should send it (ms)
  deadlines               sorted set: unfinished task id -> its deadline (ms, Redis
                          clock), for the sweep that ends tasks past it
  webhooks                sorted set: due webhook deliveries ("<task id>:<event>") ->
                          when to attempt next (ms, Redis clock); a claimed one's score
                          is its lease, so a delivery whose worker died comes due again
  webhook:<delivery>      hash: a delivery's webhook-id, timestamp and body, fixed at
                          its first attempt so every retry sends the same; with its TTL
  counts                  hash: tasks submitted and ended, by kind (see `TaskCounts`).
                          Every end renews its TTL: it lives while tasks keep ending and
                          goes one TTL after the last, when the counts restart from zero
                          (a counter reset, to Prometheus).
  counts:minute:<m>       hash: the same counts of ends only, of the minute m (Unix time
                          // 60, Redis clock); each lives about an hour, never past
                          the task TTL (see actors.store.recent)
"""

from __future__ import annotations

import hashlib

from actors.records import TaskRecord


class KeyLayout:
    """The task store's keys under `prefix`."""

    def __init__(self, prefix: str = "atelier:") -> None:
        self.prefix = prefix

    def key(self, task_id: str, part: str = "") -> str:
        return f"{self.prefix}task:{task_id}{':' + part if part else ''}"

    def owner_key(self, owner: str) -> str:
        return f"{self.prefix}owner:{owner}"

    def live_key(self, owner: str) -> str:
        """How many of the owner's tasks are QUEUED or RUNNING."""
        return self.owner_key(owner) + ":live"

    def queue_key(self, queue: str) -> str:
        return f"{self.prefix}queue:{queue}"

    def queue_order_key(self, queue: str) -> str:
        return self.queue_key(queue) + ":order"

    def claim_key(self, run: str) -> str:
        """Which task a worker's claim `run` picked (see `actors.store.dispatch`)."""
        return f"{self.prefix}claim:{run}"

    @property
    def leases_key(self) -> str:
        return f"{self.prefix}leases"

    @property
    def undispatched_key(self) -> str:
        return f"{self.prefix}undispatched"

    @property
    def deadlines_key(self) -> str:
        return f"{self.prefix}deadlines"

    @property
    def webhooks_key(self) -> str:
        return f"{self.prefix}webhooks"

    def webhook_key(self, delivery: str) -> str:
        return f"{self.prefix}webhook:{delivery}"

    @property
    def counts_key(self) -> str:
        """The hash behind `TaskCounts`."""
        return f"{self.prefix}counts"

    def minute_counts_key(self, minute: int) -> str:
        """The ends counted in `minute` (Unix time // 60); the name task_library.lua
        derives from `counts_key`."""
        return f"{self.counts_key}:minute:{minute}"

    def idempotency_key(self, owner: str, key: str) -> str:
        digest = hashlib.sha256(key.encode()).hexdigest()[:32]
        return f"{self.prefix}idem:{owner}:{digest}"

    def task_keys(self, record: TaskRecord) -> list[str]:
        """The keys every state-change script takes, in the order scripts.py gives."""
        owner_index = self.owner_key(record.owner)
        return [
            self.key(record.id),
            self.key(record.id, "result"),
            self.key(record.id, "preview"),
            record.idempotency_ref or self.key(record.id, "no-idempotency"),
            owner_index,
            self.live_key(record.owner),
            self.queue_key(record.queue),
            self.queue_order_key(record.queue),
            self.leases_key,
            self.undispatched_key,
            self.counts_key,
            self.key(record.id, "results"),
            self.deadlines_key,
            self.webhooks_key,
            *(self.key(record.id, f"input:{name}") for name in record.params.get("_inputs", [])),
        ]
