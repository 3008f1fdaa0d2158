"""Workers killed and stopped for real: every accepted task still ends exactly once.

One web node on the shared Redis; each test starts the workers it needs, with a
short lease so a dead worker is noticed in about two seconds. The task acted on is held
at a step until the test releases it (`tests.stepgate`), so it is still running when
the test acts however fast the machine is.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis

from tests.client import Api
from tests.stack import WORKER_READY, Process, Stack
from tests.stepgate import HOLD_AT, held

LEASE = 2.0
ENV = {
    "ATELIER_LEASE_SECONDS": str(LEASE),
    "ATELIER_SWEEP_EVERY": "0.5",
    # Generous: a loaded CI machine must not turn a slow renewal into WORKER_LOST here.
    "ATELIER_MAX_ATTEMPTS": "3",
    "ATELIER_PRELOAD": "IMAGE_GENERATION",
}
# Held at its step HOLD_AT until the test releases it; a few quick steps after that.
STEPS = 8
LONG = {
    "imageGeneration": {"prompt": held("a held cat"), "width": 64, "height": 64, "steps": STEPS}
}


@pytest.fixture(scope="module")
def web(
    redis_url: str, stack_models: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    with Stack(redis_url, tmp_path_factory.mktemp("faults"), stack_models, ENV).held() as stack:
        stack.start_web()
        yield stack


@pytest.fixture
def api(web: Stack) -> Api:
    return Api(web.http_url, web.ws_url)


@pytest.fixture
def workers(web: Stack) -> Iterator[list[Process]]:
    """The workers a test starts; stopped after it, their logs shown if it failed."""
    started: list[Process] = []
    yield started
    for process in started:
        process.stop()


def start_worker(web: Stack, workers: list[Process], **env: str) -> Process:
    saved = dict(web.extra_env)
    web.extra_env = {**saved, **env}
    try:
        process = web.start_worker()
    finally:
        web.extra_env = saved
    workers.append(process)
    web.wait_for_log(process, WORKER_READY)
    return process


def record(web: Stack, task_id: str) -> dict[str, str]:
    client = redis.Redis.from_url(web.redis_url, decode_responses=True)
    return client.hgetall(f"{web.env['ATELIER_KEY_PREFIX']}task:{task_id}")


def holder(web: Stack, workers: list[Process], task_id: str) -> Process:
    """The worker process running the task, from the `worker` ("host:pid") it recorded."""
    pid = int(record(web, task_id)["worker"].rsplit(":", 1)[1])
    group = os.getpgid(pid)
    return next(process for process in workers if process.popen.pid == group)


# What a worker logs once SIGTERM reached it (actors.worker.lifecycle).
STOPPING = "worker stopping: the running task gets its grace period"


def held_running(api: Api, task_id: str, attempt: int | None = None) -> dict[str, Any]:
    """The task once it is RUNNING and held at its step HOLD_AT (in run `attempt`, when
    given: a killed worker's run still reads RUNNING there until its lease lapses)."""
    return api.wait_for(
        task_id,
        lambda t: (
            t["status"] == "RUNNING"
            and t["step"] == HOLD_AT
            and (attempt is None or t["attempts"] == attempt)
        ),
    )


def ended(api: Api, task_id: str, timeout: float = 60) -> dict[str, Any]:
    return api.wait_for(task_id, lambda t: t["status"] in TERMINAL, timeout=timeout)


TERMINAL = {"SUCCEEDED", "FAILED", "CANCELLED"}


def test_task_of_a_killed_worker_completes_on_the_other_worker(
    web: Stack, api: Api, workers: list[Process]
) -> None:
    start_worker(web, workers)
    start_worker(web, workers)
    task = api.submit(LONG)
    held_running(api, task["id"])
    victim = holder(web, workers, task["id"])

    victim.kill()
    killed_at = time.monotonic()
    web.release(task["id"])
    final = ended(api, task["id"])
    recovered = time.monotonic() - killed_at

    print(f"\nworker SIGKILLed mid-task, other worker alive: ended in {recovered:.2f} s")
    assert final["status"] == "SUCCEEDED", final
    assert final["attempts"] == final["result"]["metadata"]["attempts"] == 2
    assert record(web, task["id"])["lost"] == "1"
    # Noticed once the lease lapses, then a re-run of a few quick steps.
    assert recovered < LEASE + 30


def test_task_of_the_only_worker_completes_when_a_worker_starts_later(
    web: Stack, api: Api, workers: list[Process]
) -> None:
    only = start_worker(web, workers)
    task = api.submit(LONG)
    held_running(api, task["id"])
    only.kill()
    time.sleep(LEASE + 1)  # nobody is left to notice: the task still says RUNNING
    assert api.get(task["id"])["status"] == "RUNNING"

    web.release(task["id"])
    started_at = time.monotonic()
    start_worker(web, workers)
    final = ended(api, task["id"])
    recovered = time.monotonic() - started_at

    print(f"\nonly worker SIGKILLed, new worker started: task ended in {recovered:.2f} s")
    assert final["status"] == "SUCCEEDED", final
    assert final["result"]["metadata"]["attempts"] == 2


def test_task_lost_more_often_than_allowed_fails_worker_lost(
    web: Stack, api: Api, workers: list[Process]
) -> None:
    task = api.submit(LONG)
    for attempt in (1, 2):
        # Each new worker first sweeps: it requeues the task its predecessor held.
        worker = start_worker(web, workers, ATELIER_MAX_ATTEMPTS="2")
        held_running(api, task["id"], attempt)
        assert record(web, task["id"])["attempts"] == str(attempt)
        worker.kill()
    start_worker(web, workers, ATELIER_MAX_ATTEMPTS="2")  # someone must notice the loss

    final = ended(api, task["id"])

    assert final["status"] == "FAILED"
    assert final["error"]["code"] == "WORKER_LOST"
    assert final["attempts"] == 2
    assert record(web, task["id"])["lost"] == "2"


def test_sigterm_lets_the_running_task_finish_within_the_grace_period(
    web: Stack, api: Api, workers: list[Process]
) -> None:
    worker = start_worker(web, workers, ATELIER_SHUTDOWN_GRACE="60")
    task = api.submit(LONG)
    held_running(api, task["id"])

    worker.terminate()
    web.wait_for_log(worker, STOPPING)
    time.sleep(1)  # well into the grace period, held all along
    stopping = api.get(task["id"])
    assert stopping is not None and stopping["status"] == "RUNNING", stopping
    web.release(task["id"])
    final = ended(api, task["id"])

    assert final["status"] == "SUCCEEDED", final
    assert final["result"]["metadata"]["attempts"] == 1
    assert worker.popen.wait(30) == 0, worker.output()


def test_sigterm_hands_a_task_still_running_after_the_grace_back_to_the_queue(
    web: Stack, api: Api, workers: list[Process]
) -> None:
    worker = start_worker(web, workers, ATELIER_SHUTDOWN_GRACE="0.5")
    task = api.submit(LONG)
    held_running(api, task["id"])

    worker.terminate()
    assert worker.popen.wait(30) == 0, worker.output()
    handed_back = api.get(task["id"])
    assert handed_back["status"] == "QUEUED", handed_back
    assert handed_back["stage"] == "requeued: its worker shut down"

    web.release(task["id"])
    start_worker(web, workers)
    final = ended(api, task["id"])

    assert final["status"] == "SUCCEEDED", final
    assert final["result"]["metadata"]["attempts"] == 2
    assert record(web, task["id"])["lost"] == "0"  # a clean hand-back costs no attempt


def batch_of_three(api: Api) -> list[dict[str, Any]]:
    """A held task and two that can share its call, queued while no worker runs."""
    shared = {"width": 64, "height": 64, "steps": STEPS, "seed": 5}
    return [
        api.submit({"imageGeneration": {**shared, "prompt": prompt}})
        for prompt in (held("a held cat"), "a dog", "a hare")
    ]


def test_every_member_of_a_killed_workers_batch_is_requeued_and_completes(
    web: Stack, api: Api, workers: list[Process]
) -> None:
    tasks = batch_of_three(api)
    victim = start_worker(web, workers, ATELIER_MAX_BATCH="4")
    held_running(api, tasks[0]["id"])
    running = [api.get(task["id"]) for task in tasks]
    assert [(t["status"], t["attempts"]) for t in running] == [("RUNNING", 1)] * 3
    assert len({record(web, task["id"])["worker"] for task in tasks}) == 1

    victim.kill()
    start_worker(web, workers, ATELIER_MAX_BATCH="4")
    held_running(api, tasks[0]["id"], attempt=2)
    web.release(tasks[0]["id"])
    finals = [ended(api, task["id"]) for task in tasks]

    assert [t["status"] for t in finals] == ["SUCCEEDED"] * 3, finals
    assert [t["result"]["metadata"]["attempts"] for t in finals] == [2, 2, 2]
    assert [record(web, task["id"])["lost"] for task in tasks] == ["1", "1", "1"]


def test_sigterm_hands_every_member_of_a_batch_back_to_the_queue(
    web: Stack, api: Api, workers: list[Process]
) -> None:
    tasks = batch_of_three(api)
    worker = start_worker(web, workers, ATELIER_MAX_BATCH="4", ATELIER_SHUTDOWN_GRACE="0.5")
    held_running(api, tasks[0]["id"])

    worker.terminate()
    assert worker.popen.wait(30) == 0, worker.output()
    handed_back = [api.get(task["id"]) for task in tasks]
    assert [t["status"] for t in handed_back] == ["QUEUED"] * 3, handed_back

    web.release(tasks[0]["id"])
    start_worker(web, workers)
    finals = [ended(api, task["id"]) for task in tasks]
    assert [t["status"] for t in finals] == ["SUCCEEDED"] * 3, finals
    assert [record(web, task["id"])["lost"] for task in tasks] == ["0", "0", "0"]
