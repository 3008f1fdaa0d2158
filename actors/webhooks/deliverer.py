"""A delivery's attempt and its bookkeeping: the body of the `webhooks` actor."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable

from actors import metrics
from actors.records import TaskRecord, now
from actors.store.outbox import Attempt, Delivery, WebhookOutbox
from actors.webhooks import payload, signing
from actors.webhooks.addresses import AllowList, UnsafeWebhook, check
from actors.webhooks.backoff import retry_delay
from actors.webhooks.config import WebhookSettings
from actors.webhooks.events import parse
from actors.webhooks.sender import Answer, post

logger = logging.getLogger(__name__)


class Deliverer:
    def __init__(
        self,
        outbox: WebhookOutbox,
        get: Callable[[str], TaskRecord | None],
        settings: WebhookSettings,
        links: payload.ImageLinks,
    ) -> None:
        """`links`: the web's signed image links (see payload.ImageLinks)."""
        self._outbox = outbox
        self._get = get
        self._settings = settings
        self._links = links
        self._allow = AllowList(settings.allow_hosts)

    def deliver(self, name: str, token: int) -> None:
        """Attempt delivery `name` under the claim `token`; a stale claim does nothing."""
        if not self._outbox.holds(name, token):
            return
        task_id, event = parse(name)
        delivery = self._outbox.fixed(name) or self._first(name, task_id, event)
        if delivery is None:
            metrics.webhook_attempted(event, "dropped")
            return
        answer, refused = self._attempt(delivery)
        attempt_no = delivery.attempts + 1
        if answer.ok:
            outcome, retry_in = "delivered", None
        elif refused or attempt_no > self._settings.retries:
            outcome, retry_in = ("refused" if refused else "exhausted"), None
        else:
            outcome = "retrying"
            retry_in = retry_delay(attempt_no, self._settings.backoff, self._settings.backoff_cap)
        if outcome != "delivered":
            logger.info("webhook %s attempt %d: %s (%s)", name, attempt_no, answer.error, outcome)
        settled = Attempt(
            answer.status,
            answer.error,
            delivered=answer.ok and event == "COMPLETED",
            retry_in=retry_in,
        )
        self._outbox.settle(name, token, task_id, settled)
        metrics.webhook_attempted(event, outcome)

    def _first(self, name: str, task_id: str, event: str) -> Delivery | None:
        """Fix the message of a first attempt, from the task as it is now."""
        record = self._get(task_id)
        if record is None or not record.webhook_url:  # expired before its first attempt
            self._outbox.drop(name)
            return None
        delivery = Delivery(
            msg_id=f"msg_{uuid.uuid4().hex}",
            url=record.webhook_url,
            body=payload.body(record, event, now(), self._links),
            attempts=0,
            owner=record.owner,
        )
        return self._outbox.fix(name, delivery)

    def _attempt(self, delivery: Delivery) -> tuple[Answer, bool]:
        """The answer, and whether the URL was refused (no longer admitted)."""
        secret = self._settings.secret_for(delivery.owner)
        if not secret:
            missing = "no webhook secret is configured for the task's owner"
            return Answer(None, f"{missing} (ATELIER_WEBHOOK_SECRET(S))"), False
        try:
            target = check(delivery.url, self._allow)
        except UnsafeWebhook as error:
            # A host that no longer resolves may again; one resolving somewhere refused won't.
            refused = "does not resolve" not in str(error)
            return Answer(None, str(error)), refused
        key = signing.secret_bytes(secret)
        headers = signing.headers(key, delivery.msg_id, int(time.time()), delivery.body)
        return post(target, delivery.body, headers, self._settings.timeout), False
