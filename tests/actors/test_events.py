"""Progress events: following a task, publishing from a worker, and the progress callback."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest
import redis
from channels_redis.pubsub import RedisPubSubChannelLayer
from PIL import Image

from actors.client.following import follow
from actors.events import TaskChanged, group_name
from actors.kinds import COMMON_STAGES, spec_for
from actors.records import TaskKind, TaskRecord, TaskStatus
from actors.store.tasks import TaskStore
from actors.worker.publisher import ThreadedPublisher
from actors.worker.reporter import TaskReporter, fraction
from pipelines.errors import Cancelled
from pipelines.progress import Progress
from tests.actors.factories import new_task

# -- follow --------------------------------------------------------------------------


BASE = new_task()


def at(seq: int, status: TaskStatus = TaskStatus.RUNNING) -> TaskRecord:
    """The followed task at sequence number `seq`."""
    return BASE.evolve(seq=seq, status=status, stage=f"stage {seq}")


def snapshots(*records: TaskRecord | None) -> tuple[Callable[[], Awaitable[Any]], list[int]]:
    """A snapshot reader returning `records` in turn (the last one from then on)."""
    calls: list[int] = []

    async def read() -> TaskRecord | None:
        calls.append(1)
        return records[min(len(calls), len(records)) - 1]

    return read, calls


class Messages:
    """An async source of event messages that records how far it was read."""

    def __init__(self, *records: TaskRecord) -> None:
        self.records = records
        self.read = 0

    async def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        for record in self.records:
            self.read += 1
            yield TaskChanged(record).encode()


def collect(stream: AsyncIterator[TaskRecord]) -> list[TaskRecord]:
    async def drain() -> list[TaskRecord]:
        return [record async for record in stream]

    return asyncio.run(asyncio.wait_for(drain(), 5))


def test_follow_yields_the_snapshot_then_only_newer_events_until_terminal() -> None:
    read, _ = snapshots(at(2))
    messages = Messages(
        at(1),
        at(2),
        at(3),
        at(3),
        at(2),
        at(5),
        at(4),
        at(6, TaskStatus.SUCCEEDED),
        at(7, TaskStatus.SUCCEEDED),
    )

    followed = collect(follow(read, messages))

    assert [record.seq for record in followed] == [2, 3, 5, 6]
    assert followed[-1].status is TaskStatus.SUCCEEDED


def test_follow_yields_nothing_for_an_unknown_task() -> None:
    read, _ = snapshots(None)
    messages = Messages(at(1))

    assert collect(follow(read, messages)) == []
    assert messages.read == 0


@pytest.mark.parametrize("status", [TaskStatus.SUCCEEDED, TaskStatus.FAILED, TaskStatus.CANCELLED])
def test_follow_ends_at_once_when_the_snapshot_is_terminal(status: TaskStatus) -> None:
    read, _ = snapshots(at(4, status))
    messages = Messages(at(5, status))

    followed = collect(follow(read, messages))

    assert followed == [at(4, status)]
    assert messages.read == 0


def test_follow_ends_when_the_message_source_ends() -> None:
    read, _ = snapshots(at(1))

    assert [record.seq for record in collect(follow(read, Messages(at(2))))] == [1, 2]


def test_follow_resyncs_from_the_snapshot_when_events_stop_arriving() -> None:
    # The events were lost: only re-reading the record can reveal the end.
    read, calls = snapshots(at(1), at(1), at(3, TaskStatus.SUCCEEDED))

    async def main() -> tuple[list[TaskRecord], bool]:
        closed = asyncio.Event()

        async def silent() -> AsyncIterator[dict[str, Any]]:
            try:
                await asyncio.Future()  # never resolves
                yield {}
            finally:
                closed.set()

        followed = [record async for record in follow(read, silent(), resync_after=0.05)]
        await asyncio.wait_for(closed.wait(), 1)
        return followed, closed.is_set()

    followed, source_closed = asyncio.run(asyncio.wait_for(main(), 5))

    assert [(r.seq, r.status) for r in followed] == [
        (1, TaskStatus.RUNNING),
        (3, TaskStatus.SUCCEEDED),
    ]
    assert len(calls) == 3
    assert source_closed  # the pending read was cancelled, not left behind


def test_follow_ends_when_the_task_expires_during_a_resync() -> None:
    read, _ = snapshots(at(1), None)

    async def silent() -> AsyncIterator[dict[str, Any]]:
        await asyncio.Future()
        yield {}

    assert [record.seq for record in collect(follow(read, silent(), resync_after=0.05))] == [1]


# -- ThreadedPublisher over a real channel layer ---------------------------------------


@pytest.fixture
def layer_options(redis_url: str) -> dict[str, Any]:
    name = f"atelier-test-{uuid.uuid4().hex[:12]}"
    return {
        "hosts": [{"address": redis_url, "client_name": name}],
        "prefix": f"test-{uuid.uuid4().hex}",
        "client_name": name,
    }


def new_layer(options: dict[str, Any]) -> RedisPubSubChannelLayer:
    return RedisPubSubChannelLayer(hosts=options["hosts"], prefix=options["prefix"])


def named_connections(client: redis.Redis, name: str) -> list[int]:
    return sorted(int(entry["id"]) for entry in client.client_list() if entry["name"] == name)


async def join(
    layer: RedisPubSubChannelLayer, client: redis.Redis, prefix: str, task_id: str
) -> str:
    channel = await layer.new_channel()
    await layer.group_add(group_name(task_id), channel)
    # SUBSCRIBE is not acknowledged to the caller: wait until Redis counts the subscriber.
    group_channel = f"{prefix}__group__{group_name(task_id)}"
    for _ in range(200):
        if dict(await asyncio.to_thread(client.pubsub_numsub, group_channel)).get(
            group_channel.encode()
        ):
            return channel
        await asyncio.sleep(0.01)
    raise AssertionError("the receiver never subscribed")


def test_threaded_publisher_delivers_events_in_order_to_a_group_member(
    client: redis.Redis, layer_options: dict[str, Any]
) -> None:
    record = new_task().evolve(status=TaskStatus.RUNNING)
    sent = [record.evolve(seq=seq, progress=seq / 100) for seq in range(1, 51)]
    publisher = ThreadedPublisher(new_layer(layer_options))

    async def receive() -> list[TaskRecord]:
        receiver = new_layer(layer_options)
        try:
            channel = await join(receiver, client, layer_options["prefix"], record.id)
            for event in sent:
                await asyncio.to_thread(publisher.publish, event)
            return [TaskChanged.decode(await receiver.receive(channel)).record for _ in sent]
        finally:
            await receiver.flush()

    try:
        received = asyncio.run(asyncio.wait_for(receive(), 10))
    finally:
        publisher.close()

    assert [event.seq for event in received] == list(range(1, 51))
    assert received == [event.evolve(params={}) for event in sent]


def test_threaded_publisher_reuses_one_connection_and_close_ends_its_thread(
    client: redis.Redis, layer_options: dict[str, Any]
) -> None:
    name = layer_options["client_name"]
    record = new_task().evolve(status=TaskStatus.RUNNING)
    clients_before = client.info("clients")["connected_clients"]
    threads_before = set(threading.enumerate())
    publisher = ThreadedPublisher(new_layer(layer_options))
    (thread,) = [
        t for t in threading.enumerate() if t not in threads_before and t.name == "atelier-events"
    ]

    publisher.publish(record.evolve(seq=1))
    first = named_connections(client, name)
    for seq in range(2, 2_001):
        publisher.publish(record.evolve(seq=seq))
    after = named_connections(client, name)
    clients_after = client.info("clients")["connected_clients"]

    publisher.close()

    assert len(first) == 1
    assert after == first  # the very same connection, not a new one per event
    # Other users of this Redis may connect meanwhile; 2,000 leaked pools would not hide.
    assert clients_after - clients_before <= 5
    assert not thread.is_alive()
    assert named_connections(client, name) == []


# -- TaskReporter --------------------------------------------------------------------


def running_task(store: TaskStore) -> TaskRecord:
    record, _ = store.create(new_task(), {})
    started = store.start(record.id)
    assert started is not None
    return started


def test_reporter_writes_progress_and_publishes_each_change(store: TaskStore) -> None:
    published: list[TaskRecord] = []
    reporter = TaskReporter(store, published.append, running_task(store))
    preview = Image.new("RGB", (16, 8), "orange")

    reporter(Progress("denoising", 3, 10, preview))

    assert published == [store.get(reporter.record.id)]
    assert reporter.record == published[-1]
    assert reporter.record.progress == pytest.approx(
        fraction(TaskKind.IMAGE_GENERATION, Progress("denoising", 3, 10))
    )
    assert (reporter.record.step, reporter.record.total_steps) == (3, 10)
    assert (reporter.record.preview_width, reporter.record.preview_height) == (16, 8)
    png = store.preview_png(reporter.record.id)
    assert png is not None and png.startswith(b"\x89PNG")


def test_reporter_raises_cancelled_after_publishing_the_cancel_request(
    store: TaskStore,
) -> None:
    published: list[TaskRecord] = []
    reporter = TaskReporter(store, published.append, running_task(store))
    reporter(Progress("denoising", 1, 10))
    store.cancel(reporter.record.id)

    with pytest.raises(Cancelled):
        reporter(Progress("denoising", 2, 10))

    assert len(published) == 2
    assert published[-1].cancel_requested
    assert published[-1].status is TaskStatus.RUNNING
    assert published[-1] == store.get(reporter.record.id)


def test_reporter_raises_cancelled_when_the_task_is_no_longer_running(
    store: TaskStore,
) -> None:
    published: list[TaskRecord] = []
    record = running_task(store)
    reporter = TaskReporter(store, published.append, record)
    store.fail(record, "WORKER_LOST", "ended elsewhere")

    with pytest.raises(Cancelled):
        reporter(Progress("denoising", 1, 10))

    assert published == []
    assert reporter.record == record


def text_to_image_run(steps: int) -> list[Progress]:
    """The reports a text-to-image run makes, in order (see pipelines/text_to_image.py)."""
    events = [Progress("loading model"), Progress("refining prompt")]
    events.append(Progress("denoising", 0, steps))
    events += [Progress("denoising", step, steps) for step in range(1, steps + 1)]
    events += [Progress("decoding", steps, steps), Progress("encoding")]
    return events


@pytest.mark.parametrize(
    ("kind", "run"),
    [
        (TaskKind.IMAGE_GENERATION, text_to_image_run(1)),
        (TaskKind.IMAGE_GENERATION, text_to_image_run(30)),
        (
            TaskKind.BACKGROUND_REMOVAL,
            [Progress("decoding input"), Progress("removing background"), Progress("encoding")],
        ),
        (
            TaskKind.FACE_SWAP,
            [Progress("decoding input"), Progress("detecting faces")]
            + [Progress("swapping faces", step, 3) for step in range(4)]
            + [Progress("encoding")],
        ),
    ],
    ids=["text-to-image-1-step", "text-to-image-30-steps", "background-removal", "face-swap"],
)
def test_fraction_is_monotonic_through_a_run(kind: TaskKind, run: list[Progress]) -> None:
    fractions = [fraction(kind, event) for event in run]

    assert fractions == sorted(fractions)
    assert all(0.0 <= value < 1.0 for value in fractions)
    stages = {**COMMON_STAGES, **spec_for(kind).stages}
    assert all(event.stage in stages for event in run)


def test_reported_progress_never_decreases_through_a_denoising_run(store: TaskStore) -> None:
    published: list[TaskRecord] = []
    reporter = TaskReporter(store, published.append, running_task(store))

    for event in text_to_image_run(20):
        reporter(event)

    progress = [record.progress for record in published]
    assert progress == sorted(progress)
    assert [record.seq for record in published] == list(
        range(published[0].seq, published[0].seq + len(published))
    )
    assert progress[-1] == pytest.approx(spec_for(TaskKind.IMAGE_GENERATION).span("encoding")[0])
