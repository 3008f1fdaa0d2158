"""A result of several images in the real task store: written whole in the step that
ends the task, read by index, expiring with the task; no other ending writes any."""

from __future__ import annotations

import json

import pytest
import redis

from actors.records import ResultInfo, TaskKind, TaskStatus, from_hash, to_hash
from actors.store.tasks import TaskStore
from tests.actors.factories import assert_expires_within_ttl, created, new_task, running

PNGS = [b"\x89PNG\r\n\x1a\nfirst", b"\x89PNG\r\n\x1a\nsecond", b"\x89PNG\r\n\x1a\nthird"]
SOURCE = b"\x89PNG\r\n\x1a\nsource"
PREVIEW = b"\x89PNG\r\n\x1a\npreview"
INFO = ResultInfo(width=64, height=48, seed=7, seeds=[7, 8, 9], metadata={"numImages": 3})


def test_a_result_of_three_images_is_stored_whole_and_read_by_index(
    store: TaskStore, client: redis.Redis
) -> None:
    record, _ = store.create(new_task(), {"image": SOURCE}, idempotency_key="three")
    record = store.start(record.id)
    assert record is not None
    record = store.report(record, progress=0.5, stage="denoising", preview=(8, 8, PREVIEW))
    assert record is not None

    done = store.succeed(record, INFO, PNGS[0], PNGS[1:])

    assert done is not None and done == store.get(record.id)
    assert done.status is TaskStatus.SUCCEEDED and done.result is not None
    assert done.result.image_count == 3
    assert done.result.seeds == [7, 8, 9] and done.result.seed == 7
    assert [store.result_png(record.id, index) for index in range(3)] == PNGS
    assert store.result_png(record.id) == PNGS[0]
    # `task:<id>:result` is the first image, as before; the others sit in one hash.
    assert client.get(store.key(record.id, "result")) == PNGS[0]
    assert client.hgetall(store.key(record.id, "results")) == {b"1": PNGS[1], b"2": PNGS[2]}
    for index in (3, 4, 99, -1):
        assert store.result_png(record.id, index) is None, index
    assert client.exists(store.key(record.id, "input:image")) == 0


def test_every_key_of_a_several_image_result_gets_the_tasks_ttl_together(
    store: TaskStore, client: redis.Redis
) -> None:
    record, _ = store.create(new_task(), {"image": SOURCE}, idempotency_key="ttl")
    record = store.start(record.id)
    assert record is not None
    record = store.report(record, progress=0.5, stage="denoising", preview=(8, 8, PREVIEW))
    assert record is not None and record.idempotency_ref is not None

    assert store.succeed(record, INFO, PNGS[0], PNGS[1:]) is not None

    keys = [
        store.key(record.id),
        store.key(record.id, "result"),
        store.key(record.id, "results"),
        store.key(record.id, "preview"),
        record.idempotency_ref,
    ]
    assert_expires_within_ttl(client, *keys)
    # Read in one transaction: they were given the TTL by one script, so they expire
    # together (TTL rounds to seconds: two reads may straddle one).
    with client.pipeline(transaction=True) as pipe:
        for key in keys:
            pipe.ttl(key)
        ttls = pipe.execute()
    assert max(ttls) - min(ttls) <= 1, ttls


def test_a_one_image_result_writes_no_results_hash(store: TaskStore, client: redis.Redis) -> None:
    record = running(store)

    done = store.succeed(record, ResultInfo(width=64, height=48, seed=5, seeds=[5]), PNGS[0])

    assert done is not None and done.result is not None
    assert done.result.image_count == 1 and done.result.seeds == [5]
    assert store.result_png(record.id, 0) == PNGS[0]
    assert store.result_png(record.id, 1) is None
    assert client.exists(store.key(record.id, "results")) == 0


def test_image_count_follows_the_images_given_whatever_the_info_says(store: TaskStore) -> None:
    record = running(store)

    done = store.succeed(record, ResultInfo(width=1, height=1, image_count=9), PNGS[0], PNGS[1:2])

    assert done is not None and done.result is not None and done.result.image_count == 2


@pytest.mark.parametrize("ending", ["fail", "cancel-queued", "cancelled", "succeed-after-cancel"])
def test_no_other_ending_writes_result_images(
    store: TaskStore, client: redis.Redis, ending: str
) -> None:
    record = running(store, image=SOURCE) if ending != "cancel-queued" else created(store)
    if ending == "fail":
        final = store.fail(record, "PIPELINE_ERROR", "boom")
    elif ending == "cancel-queued":
        final = store.cancel(record.id)
    else:
        store.cancel(record.id)  # RUNNING: asked to stop
        if ending == "cancelled":
            final = store.cancelled(record)
        else:  # the worker finished anyway: the task still ends CANCELLED, without images
            final = store.succeed(record, INFO, PNGS[0], PNGS[1:])

    assert final is not None and final.status in (TaskStatus.FAILED, TaskStatus.CANCELLED)
    assert final.result is None
    assert client.exists(store.key(record.id, "result"), store.key(record.id, "results")) == 0
    assert [store.result_png(record.id, index) for index in range(3)] == [None] * 3
    assert_expires_within_ttl(client, store.key(record.id))
    assert client.exists(store.key(record.id, "input:image")) == 0


def test_a_later_outcome_of_a_several_image_task_changes_nothing(store: TaskStore) -> None:
    record = running(store)
    done = store.succeed(record, INFO, PNGS[0], PNGS[1:])

    assert store.succeed(record, INFO, b"again", [b"again-1"]) is None
    assert store.fail(record, "PIPELINE_ERROR", "late") is None

    assert store.get(record.id) == done
    assert [store.result_png(record.id, index) for index in range(3)] == PNGS


def test_inputs_of_every_task_still_go_when_it_ends(store: TaskStore, client: redis.Redis) -> None:
    """The results key sits among the keys every script takes, before the inputs."""
    record = running(store, new_task(kind=TaskKind.FACE_SWAP), source=SOURCE, target=SOURCE)
    assert store.input_bytes(record.id, "source") == SOURCE
    assert store.input_bytes(record.id, "target") == SOURCE

    store.succeed(record, INFO, PNGS[0], PNGS[1:])

    assert store.input_bytes(record.id, "source") is None
    assert store.input_bytes(record.id, "target") is None
    assert store.result_png(record.id, 2) == PNGS[2]


def test_a_record_written_before_several_images_decodes_as_one_image() -> None:
    record = to_hash(new_task().evolve(status=TaskStatus.SUCCEEDED))
    record["result"] = json.dumps({"width": 8, "height": 8, "seed": 3, "metadata": {}})

    result = from_hash(record).result

    assert result is not None
    assert (result.image_count, result.seeds, result.seed) == (1, None, 3)


def test_a_several_image_result_round_trips_through_a_hash() -> None:
    record = new_task().evolve(status=TaskStatus.SUCCEEDED, result=INFO)
    assert from_hash(to_hash(record)) == record
