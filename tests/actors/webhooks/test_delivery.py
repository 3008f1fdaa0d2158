"""Signing, backoff, the URL check and the deliverer against a real HTTP receiver;
signatures verified with the `standardwebhooks` package, not our signer."""

from __future__ import annotations

import base64
import ipaddress
import json
import random
import time
from dataclasses import replace

import pytest
import redis
from standardwebhooks import Webhook

from actors.metrics import instruments
from actors.records import TaskStatus
from actors.store.outbox import WebhookOutbox
from actors.store.tasks import TaskStore
from actors.webhooks import signing
from actors.webhooks.addresses import AllowList, UnsafeWebhook, check, is_public
from actors.webhooks.backoff import retry_delay
from actors.webhooks.config import WebhookSettings
from actors.webhooks.deliverer import Deliverer
from graph.links import LinkSigner
from project.webhooklinks import WebhookLinks
from tests.actors.factories import created, new_task
from tests.actors.webhooks.receiver import Received, receiving

SECRET = "whsec_" + base64.b64encode(b"atelier-test-webhook-secret-32b!").decode()
BOB_SECRET = "whsec_" + base64.b64encode(b"bob's-own-webhook-secret-0123456").decode()
LINKS = WebhookLinks(LinkSigner(b"test-links"), 60, "https://atelier.example")


def test_a_signature_verifies_with_the_standard_webhooks_library() -> None:
    body = b'{"type":"task.completed"}'
    stamp = int(time.time())
    headers = signing.headers(signing.secret_bytes(SECRET), "msg_1", stamp, body)
    assert Webhook(SECRET).verify(body, headers) == {"type": "task.completed"}
    tampered = {**headers, "webhook-id": "msg_2"}
    with pytest.raises(Exception, match=r"(?i)signature"):
        Webhook(SECRET).verify(body, tampered)


@pytest.mark.parametrize("secret", ["plain", "whsec_not base64!", "whsec_" + "QUJD"])
def test_a_malformed_secret_is_refused(secret: str) -> None:
    with pytest.raises(ValueError):
        signing.secret_bytes(secret)


def test_backoff_doubles_up_to_its_cap_with_jitter_of_at_most_half() -> None:
    rng = random.Random(7)
    for attempt, ceiling in [(1, 5), (2, 10), (3, 20), (8, 600), (20, 600)]:
        for _ in range(50):
            assert ceiling / 2 <= retry_delay(attempt, 5.0, 600.0, rng) <= ceiling
    total = sum(retry_delay(n, 5.0, 600.0, rng) for n in range(1, 13))
    assert 1800 < total < 3700  # the default twelve retries span about an hour


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1/hook",  # not https, not public
        "https://127.0.0.1/hook",
        "https://10.1.2.3/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[::1]/hook",
        "https://localhost/hook",
        "ftp://example.com/hook",
        "https://user:pw@example.com/hook",
        "not a url",
    ],
)
def test_urls_that_are_not_https_to_public_addresses_are_refused(url: str) -> None:
    with pytest.raises(UnsafeWebhook):
        check(url, AllowList())


def test_the_allow_list_admits_hosts_ips_and_networks() -> None:
    assert check("http://127.0.0.1:9/h", AllowList(["127.0.0.1"])).address == "127.0.0.1"
    assert check("http://127.0.0.1:9/h", AllowList(["127.0.0.0/8"])).port == 9
    assert check("http://localhost:9/h?x=1", AllowList(["localhost"])).path == "/h?x=1"
    with pytest.raises(UnsafeWebhook):
        check("https://10.0.0.1/h", AllowList(["127.0.0.1"]))


def test_public_means_not_private_loopback_link_local_multicast_or_reserved() -> None:
    assert is_public(ipaddress.ip_address("93.184.216.34"))
    for address in ("192.168.1.1", "127.0.0.1", "169.254.1.1", "224.0.0.1", "240.0.0.1", "::1"):
        assert not is_public(ipaddress.ip_address(address))


def test_a_failing_receiver_gets_the_same_message_until_it_answers(
    client: redis.Redis, prefix: str, store: TaskStore
) -> None:
    outbox = WebhookOutbox(client, prefix=prefix, ttl=60)
    settings = WebhookSettings(secret=SECRET, backoff=0.01, allow_hosts=("127.0.0.1",))
    deliverer = Deliverer(outbox, store.get, settings, LINKS)
    before = {o: counted("COMPLETED", o) for o in ("retrying", "delivered")}
    with receiving([500, 503]) as receiver:
        task = created(
            store, replace(new_task(), webhook_url=receiver.url, webhook_events="COMPLETED")
        )
        store.cancel(task.id)
        for _ in range(3):
            deadline = time.monotonic() + 10
            claimed = []
            while not claimed and time.monotonic() < deadline:
                claimed = outbox.claim(10, lease_ms=30_000)
            [(name, token)] = claimed
            deliverer.deliver(name, token)
        received = receiver.wait_for(3, timeout=10)
    assert [r.status for r in received] == [500, 503, 200]
    assert len({r.headers["webhook-id"] for r in received}) == 1
    assert len({r.body for r in received}) == 1
    for r in received:
        event = Webhook(SECRET).verify(r.body, r.headers)
        assert event["type"] == "task.completed"
        assert event["data"]["id"] == task.id and event["data"]["status"] == "CANCELLED"
    record = store.get(task.id)
    assert record is not None and record.status is TaskStatus.CANCELLED
    assert (record.webhook_deliveries, record.webhook_status, record.webhook_delivered) == (
        3,
        200,
        True,
    )
    assert outbox.pending() == 0
    assert json.loads(received[0].body)["data"]["error"]["code"] == "CANCELLED"
    assert counted("COMPLETED", "retrying") - before["retrying"] == 2
    assert counted("COMPLETED", "delivered") - before["delivered"] == 1


def counted(event: str, outcome: str) -> float:
    value = instruments().webhook_deliveries.labels(event, outcome)._value.get()
    return float(value)


def test_a_delivery_runs_out_of_retries_and_is_given_up(
    client: redis.Redis, prefix: str, store: TaskStore
) -> None:
    outbox = WebhookOutbox(client, prefix=prefix, ttl=60)
    settings = WebhookSettings(secret=SECRET, retries=1, backoff=0.01, allow_hosts=("127.0.0.1",))
    deliverer = Deliverer(outbox, store.get, settings, LINKS)
    with receiving([500, 500, 500]) as receiver:
        task = created(
            store, replace(new_task(), webhook_url=receiver.url, webhook_events="COMPLETED")
        )
        store.cancel(task.id)
        for _ in range(2):
            claimed = []
            deadline = time.monotonic() + 10
            while not claimed and time.monotonic() < deadline:
                claimed = outbox.claim(10, lease_ms=30_000)
            deliverer.deliver(*claimed[0])
        assert len(receiver.wait_for(2, timeout=10)) == 2
    assert outbox.pending() == 0
    record = store.get(task.id)
    assert record is not None and not record.webhook_delivered
    assert (record.webhook_deliveries, record.webhook_status) == (2, 500)


def test_a_redirect_is_not_followed(client: redis.Redis, prefix: str, store: TaskStore) -> None:
    outbox = WebhookOutbox(client, prefix=prefix, ttl=60)
    settings = WebhookSettings(secret=SECRET, retries=0, allow_hosts=("127.0.0.1",))
    with receiving([302]) as receiver:
        task = created(
            store, replace(new_task(), webhook_url=receiver.url, webhook_events="COMPLETED")
        )
        store.cancel(task.id)
        Deliverer(outbox, store.get, settings, LINKS).deliver(*outbox.claim(1, 30_000)[0])
        assert len(receiver.wait_for(1, timeout=10)) == 1
    record = store.get(task.id)
    assert record is not None and record.webhook_error == "HTTP 302"
    assert not record.webhook_delivered


def test_each_owner_s_deliveries_are_signed_with_that_owner_s_secret(
    client: redis.Redis, prefix: str, store: TaskStore
) -> None:
    # bob has a secret of his own; alice, without one, gets the shared secret.
    outbox = WebhookOutbox(client, prefix=prefix, ttl=60)
    settings = WebhookSettings(
        secret=SECRET, secrets={"bob": BOB_SECRET}, backoff=0.01, allow_hosts=("127.0.0.1",)
    )
    deliverer = Deliverer(outbox, store.get, settings, LINKS)
    # bob's receiver fails his first attempt: the retry, from the kept message, is his too.
    with receiving() as alices, receiving([500]) as bobs:
        for owner, receiver in (("alice", alices), ("bob", bobs)):
            hooked = replace(new_task(owner), webhook_url=receiver.url, webhook_events="COMPLETED")
            store.cancel(created(store, hooked).id)
        deadline = time.monotonic() + 10
        while (len(alices.received), len(bobs.received)) != (1, 2):
            assert time.monotonic() < deadline, "the deliveries never came due"
            for name, token in outbox.claim(10, lease_ms=30_000):
                deliverer.deliver(name, token)
        [alice_got] = alices.received
        bob_got = bobs.received

    def verifies(received: Received, secret: str) -> bool:
        try:
            Webhook(secret).verify(received.body, received.headers)
        except Exception as error:
            assert "signature" in str(error).lower(), error
            return False
        return True

    assert verifies(alice_got, SECRET) and not verifies(alice_got, BOB_SECRET)
    assert [r.status for r in bob_got] == [500, 200]
    for received in bob_got:
        assert verifies(received, BOB_SECRET) and not verifies(received, SECRET)
    assert outbox.pending() == 0


def test_an_owner_without_a_secret_is_not_sent_unsigned(
    client: redis.Redis, prefix: str, store: TaskStore
) -> None:
    # A secret removed after the submit: the attempt fails, nothing is sent.
    outbox = WebhookOutbox(client, prefix=prefix, ttl=60)
    settings = WebhookSettings(secrets={"bob": BOB_SECRET}, allow_hosts=("127.0.0.1",))
    with receiving() as receiver:
        hooked = replace(new_task("alice"), webhook_url=receiver.url, webhook_events="COMPLETED")
        task = created(store, hooked)
        store.cancel(task.id)
        Deliverer(outbox, store.get, settings, LINKS).deliver(*outbox.claim(1, 30_000)[0])
        assert receiver.received == []
    record = store.get(task.id)
    assert record is not None and not record.webhook_delivered
    assert "no webhook secret" in (record.webhook_error or "")
