"""Hands due webhook deliveries to the `webhooks` queue, from every worker process.

A thread claims the due ones (actors.store.outbox) every `poll_every` seconds and
sends one message each to the `atelier.webhook` actor. The claim, not the message,
holds the delivery: a message lost with a dead worker leaves a claim that lapses, and
the delivery is claimed and sent again; a stale message finds its claim gone.
"""

from __future__ import annotations

from collections.abc import Callable

import dramatiq
from dramatiq import Broker, Middleware, Worker

from actors.store.outbox import WebhookOutbox
from actors.webhooks.config import QUEUE, WebhookSettings
from actors.worker.periodic import Periodic

ACTOR = "atelier.webhook"


def declare_webhook_actor(
    broker: Broker, deliver: Callable[[str, int], None], settings: WebhookSettings
) -> dramatiq.Actor:
    """The actor on the `webhooks` queue. No Dramatiq retries: the outbox retries."""

    def deliver_webhook(name: str, token: int) -> None:
        deliver(name, token)

    return dramatiq.actor(
        actor_name=ACTOR,
        queue_name=QUEUE,
        broker=broker,
        max_retries=0,
        time_limit=int((settings.timeout * 3 + 10) * 1000),
    )(deliver_webhook)


class WebhookDispatcher:
    def __init__(
        self,
        outbox: WebhookOutbox,
        send: Callable[[str, int], object],
        settings: WebhookSettings,
        batch: int = 100,
    ) -> None:
        self._outbox = outbox
        self._send = send
        self._settings = settings
        self._batch = batch
        self._periodic = Periodic(
            "webhook dispatch", self.dispatch, settings.poll_every, wait_first=True
        )

    def dispatch(self) -> int:
        """Claim and send what is due now; how many were sent."""
        lease_ms = int(self._settings.lease_seconds * 1000)
        claimed = self._outbox.claim(self._batch, lease_ms)
        for name, token in claimed:
            self._send(name, token)
        return len(claimed)

    def start(self) -> None:
        self._periodic.start()

    def stop(self) -> None:
        self._periodic.stop()


class DispatchWebhooks(Middleware):
    """Runs a `WebhookDispatcher` in each worker process while it runs."""

    def __init__(self, make: Callable[[], WebhookDispatcher]) -> None:
        self._make = make
        self._dispatcher: WebhookDispatcher | None = None

    def after_worker_boot(self, broker: Broker, worker: Worker) -> None:
        self._dispatcher = self._make()
        self._dispatcher.start()

    def before_worker_shutdown(self, broker: Broker, worker: Worker) -> None:
        if self._dispatcher is not None:
            self._dispatcher.stop()
