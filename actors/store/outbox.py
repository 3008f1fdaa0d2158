"""The webhook outbox: due deliveries in Redis, so that none is lost with a process.

A delivery is named `<task id>:<event>[:<n>]` and sits in the `webhooks` sorted set
(actors.store.keys) by when it is due. The COMPLETED one is added by the script that
ends the task (`terminate`, lua/task_library.lua), STARTED and PROGRESS ones by the
worker as it publishes the change (`enqueue`). A dispatcher `claim`s due ones (its
score becomes a lease, the token of that claim) and hands them to a deliverer; the
deliverer `settle`s under that token: gone when delivered or given up, due again
later otherwise. A deliverer that dies leaves its claim to lapse, and the delivery
comes due again. Its webhook-id, timestamp and body are fixed at the first attempt
(`fix`), so that every retry sends the same message.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import cast

import redis

from actors.store import scripts
from actors.store.keys import KeyLayout
from actors.store.outage import Script


@dataclass(frozen=True, slots=True)
class Delivery:
    """What every attempt of one delivery sends."""

    msg_id: str
    url: str
    body: bytes
    attempts: int  # made so far and failed
    # The task's owner, whose secret signs every attempt (None: fixed by older code).
    owner: str | None = None


@dataclass(frozen=True, slots=True)
class Attempt:
    """How one attempt went, for the task's webhook status."""

    status: int | None
    error: str | None
    delivered: bool
    retry_in: float | None  # seconds; None: settled (delivered or given up)


class WebhookOutbox(KeyLayout):
    def __init__(self, client: redis.Redis, *, prefix: str = "atelier:", ttl: int = 7200) -> None:
        super().__init__(prefix)
        self.client = client
        # How long a delivery's fixed message is kept: beyond its retries.
        self.ttl = ttl
        self._enqueue = Script(client, scripts.WEBHOOK_ENQUEUE)
        self._claim = Script(client, scripts.WEBHOOK_CLAIM)
        self._settle = Script(client, scripts.WEBHOOK_SETTLE)

    def enqueue(self, name: str, interval_ms: int = 0) -> bool:
        """Due now; with an interval, one per window of that many ms (see the script)."""
        return bool(self._enqueue(keys=[self.webhooks_key], args=[name, interval_ms]))

    def claim(self, limit: int, lease_ms: int) -> list[tuple[str, int]]:
        raw = self._claim(keys=[self.webhooks_key], args=[limit, lease_ms])
        return [(raw[i].decode(), int(raw[i + 1])) for i in range(0, len(raw), 2)]

    def holds(self, name: str, token: int) -> bool:
        """Whether the claim `token` is still the delivery's (a stale message is not)."""
        score = self.client.zscore(self.webhooks_key, name)
        return score is not None and int(score) == token

    def fixed(self, name: str) -> Delivery | None:
        raw = cast(dict[bytes, bytes], self.client.hgetall(self.webhook_key(name)))
        if b"body" not in raw:
            return None
        return Delivery(
            raw[b"msg_id"].decode(),
            raw[b"url"].decode(),
            raw[b"body"],
            int(raw.get(b"attempts", b"0")),
            raw[b"owner"].decode() if b"owner" in raw else None,
        )

    def fix(self, name: str, delivery: Delivery) -> Delivery:
        """Keep `delivery` as the message of every attempt, unless one is kept already."""
        key = self.webhook_key(name)
        pipe = self.client.pipeline()
        pipe.hsetnx(key, "msg_id", delivery.msg_id)
        pipe.hsetnx(key, "url", delivery.url)
        pipe.hsetnx(key, "body", delivery.body)
        if delivery.owner is not None:
            pipe.hsetnx(key, "owner", delivery.owner)
        pipe.expire(key, self.ttl)
        pipe.execute()
        return self.fixed(name) or delivery

    def drop(self, name: str) -> None:
        self.client.zrem(self.webhooks_key, name)
        self.client.delete(self.webhook_key(name))

    def settle(self, name: str, token: int, task_id: str, attempt: Attempt) -> bool:
        """Record `attempt`; False when the claim `token` was no longer the delivery's."""
        retry = "" if attempt.retry_in is None else int(attempt.retry_in * 1000)
        done = self._settle(
            keys=[self.webhooks_key, self.webhook_key(name), self.key(task_id)],
            args=[
                name,
                token,
                "" if attempt.status is None else attempt.status,
                attempt.error or "",
                "1" if attempt.delivered else "0",
                retry,
            ],
        )
        return bool(done)

    def pending(self) -> int:
        return int(self.client.zcard(self.webhooks_key))
