from __future__ import annotations

import time

import pytest
import redis

from actors.client.admission import Admission, AdmissionPolicy, Refused


def admission(client: redis.Redis, prefix: str, **policy: float) -> Admission:
    return Admission(client, AdmissionPolicy(**policy), prefix=prefix)  # type: ignore[arg-type]


def test_burst_is_admitted_then_the_rate_refuses_with_a_retry_delay(
    client: redis.Redis, prefix: str
) -> None:
    gate = admission(client, prefix, submit_rate=0.5, submit_burst=3)
    for _ in range(3):
        gate.admit("alice", f"{prefix}live", [f"{prefix}q"])
    with pytest.raises(Refused) as refused:
        gate.admit("alice", f"{prefix}live", [f"{prefix}q"])
    assert refused.value.reason == "SUBMIT_RATE"
    # One token at 0.5 a second: about two seconds away.
    assert 1.5 < refused.value.retry_after <= 2.0


def test_each_key_has_its_own_bucket(client: redis.Redis, prefix: str) -> None:
    gate = admission(client, prefix, submit_rate=0.1, submit_burst=1)
    gate.admit("alice", f"{prefix}live:a", [])
    gate.admit("bob", f"{prefix}live:b", [])
    with pytest.raises(Refused):
        gate.admit("alice", f"{prefix}live:a", [])


def test_tokens_come_back_with_time(client: redis.Redis, prefix: str) -> None:
    gate = admission(client, prefix, submit_rate=50, submit_burst=1)
    gate.admit("alice", f"{prefix}live", [])
    with pytest.raises(Refused) as refused:
        gate.admit("alice", f"{prefix}live", [])
    time.sleep(refused.value.retry_after + 0.01)
    gate.admit("alice", f"{prefix}live", [])


def test_too_many_unfinished_tasks_are_refused_without_spending_a_token(
    client: redis.Redis, prefix: str
) -> None:
    gate = admission(client, prefix, submit_burst=1, max_unfinished_per_owner=2)
    client.set(f"{prefix}live", 2)
    with pytest.raises(Refused) as refused:
        gate.admit("alice", f"{prefix}live", [])
    assert refused.value.reason == "UNFINISHED_TASKS"
    client.set(f"{prefix}live", 1)
    gate.admit("alice", f"{prefix}live", [])  # the one token was still there


def test_a_full_queue_refuses_everyone(client: redis.Redis, prefix: str) -> None:
    gate = admission(client, prefix, max_queued=3)
    client.zadd(f"{prefix}q1", {"a": 1, "b": 2})
    client.zadd(f"{prefix}q2", {"c": 1})
    with pytest.raises(Refused) as refused:
        gate.admit("alice", f"{prefix}live", [f"{prefix}q1", f"{prefix}q2"])
    assert refused.value.reason == "QUEUE_FULL"
    client.zrem(f"{prefix}q2", "c")
    gate.admit("alice", f"{prefix}live", [f"{prefix}q1", f"{prefix}q2"])


def test_the_bucket_key_expires(client: redis.Redis, prefix: str) -> None:
    gate = admission(client, prefix, submit_rate=1, submit_burst=5)
    gate.admit("alice", f"{prefix}live", [])
    assert 0 < client.pttl(f"{prefix}bucket:alice") <= 6000


# -- several tasks at once (submitTasks) -------------------------------------------------


def test_a_batch_takes_a_token_per_task_or_none(client: redis.Redis, prefix: str) -> None:
    gate = admission(client, prefix, submit_rate=0.01, submit_burst=5)
    gate.admit("alice", f"{prefix}live", [], 3)
    with pytest.raises(Refused) as refused:
        gate.admit("alice", f"{prefix}live", [], 3)
    assert refused.value.reason == "SUBMIT_RATE"
    gate.admit("alice", f"{prefix}live", [], 2)  # the two left were not taken


def test_a_batch_counts_every_task_against_the_unfinished_and_queue_limits(
    client: redis.Redis, prefix: str
) -> None:
    gate = admission(client, prefix, max_unfinished_per_owner=4, max_queued=10)
    client.set(f"{prefix}live", 2)
    with pytest.raises(Refused) as refused:
        gate.admit("alice", f"{prefix}live", [], 3)
    assert refused.value.reason == "UNFINISHED_TASKS"
    client.zadd(f"{prefix}q", {f"t{i}": i for i in range(9)})
    with pytest.raises(Refused) as refused:
        gate.admit("alice", f"{prefix}live", [f"{prefix}q"], 2)
    assert refused.value.reason == "QUEUE_FULL"
    gate.admit("alice", f"{prefix}live", [f"{prefix}q"], 1)


def test_a_batch_larger_than_a_full_bucket_is_refused_as_never_admissible(
    client: redis.Redis, prefix: str
) -> None:
    gate = admission(client, prefix, submit_burst=4)
    with pytest.raises(Refused) as refused:
        gate.admit("alice", f"{prefix}live", [], 5)
    assert refused.value.reason == "OVER_BURST"
    gate.admit("alice", f"{prefix}live", [], 4)
