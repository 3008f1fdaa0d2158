"""The operators' view (`Query.operations`) and readiness on real stacks: an admin key
sees the workers, their queues and warm models, the running tasks and the queue
depths; any other key gets FORBIDDEN and nothing else; /readyz needs a worker heard
from recently."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from project.config import load
from tests.api.scenarios import (
    finish,
    generation,
    held_generation,
    is_terminal,
    when,
    worker_held,
)
from tests.client import Api
from tests.stack import OPS_KEY, WORKER_READY, Stack

OPERATIONS = """
query Operations($limit: Int! = 100) {
  operations {
    queues { name depth delayed queuedTasks }
    runningTasks(limit: $limit) {
      id kind owner queue worker stage step totalSteps progress attempts cancelRequested
      startedAt leaseExpiresAt
    }
    workers {
      id host pid queues loadedModels { kind name } currentTask { id kind } stopping
      startedAt lastSeenAt
    }
  }
}
"""
TASKS = "query { tasks { id } }"


@pytest.fixture
def ops(stack: Stack) -> Api:
    return Api(stack.http_url, stack.ws_url, key=OPS_KEY)


def operations(api: Api, **variables: Any) -> dict[str, Any]:
    return api.data(OPERATIONS, **variables)["operations"]


def eventually(read: Callable[[], Any], holds: Callable[[Any], bool], timeout: float = 30) -> Any:
    """`read()` once `holds` of it, polling; fails past `timeout` with the last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if holds(value):
            return value
        assert time.monotonic() < deadline, f"timed out on {value}"
        time.sleep(0.1)


def worker_process(stack: Stack) -> int:
    """The process group of the stack's (only) worker."""
    [worker] = [p for p in stack.processes if p.name.startswith("worker")]
    return worker.popen.pid


def depth_of(view: dict[str, Any], queue: str) -> dict[str, Any]:
    [found] = [q for q in view["queues"] if q["name"] == queue]
    return found


# -- the shared stack: one worker on every queue ------------------------------------


def test_an_operator_sees_the_worker_with_its_queues_and_warm_model(
    stack: Stack, api: Api, ops: Api
) -> None:
    task = api.submit(generation("warm the default model"))
    assert api.wait_for(task["id"], is_terminal)["status"] == "SUCCEEDED"

    [worker] = operations(ops)["workers"]

    assert worker["host"] == socket.gethostname()
    assert worker["id"] == f"{worker['host']}:{worker['pid']}"
    assert os.getpgid(worker["pid"]) == worker_process(stack)
    every_queue = sorted(q["name"] for q in operations(ops)["queues"])
    assert worker["queues"] == every_queue  # started with no --queues: all of them
    assert {"kind": "IMAGE_GENERATION", "name": "tiny-random"} in worker["loadedModels"]
    assert worker["currentTask"] is None and worker["stopping"] is False
    now = datetime.now(UTC)
    assert when(worker["startedAt"]) <= when(worker["lastSeenAt"])  # type: ignore[operator]
    assert now - when(worker["lastSeenAt"]) < timedelta(seconds=15)  # type: ignore[operator]


def test_an_operator_sees_a_running_task_on_the_worker_running_it(
    stack: Stack, api: Api, ops: Api
) -> None:
    with worker_held(api) as holder:
        view = eventually(
            lambda: operations(ops),
            lambda v: (
                any(t["id"] == holder["id"] and t["step"] for t in v["runningTasks"])
                and v["workers"][0]["currentTask"] is not None
            ),
        )
        [running] = [t for t in view["runningTasks"] if t["id"] == holder["id"]]
        [worker] = view["workers"]
        assert running["owner"] == "alice" and running["kind"] == "IMAGE_GENERATION"
        assert running["queue"] == "image_generation"
        assert running["worker"] == worker["id"]
        assert running["totalSteps"] == 150 and running["attempts"] == 1
        assert running["cancelRequested"] is False
        assert when(running["leaseExpiresAt"]) > when(running["startedAt"])  # type: ignore[operator]
        assert worker["currentTask"] == {"id": holder["id"], "kind": "IMAGE_GENERATION"}

        # Progress moves on while it runs.
        stack.release(holder["id"])

        def further(tasks: list[dict[str, Any]]) -> bool:
            return any(t["id"] == holder["id"] and t["step"] > running["step"] for t in tasks)

        eventually(lambda: operations(ops)["runningTasks"], further)
    eventually(
        lambda: operations(ops),
        lambda v: v["runningTasks"] == [] and v["workers"][0]["currentTask"] is None,
    )


def test_queue_depth_counts_the_tasks_waiting_behind_a_busy_worker(api: Api, ops: Api) -> None:
    with worker_held(api):
        waiting = [api.submit(generation(f"waiting {n}"))["id"] for n in range(2)]
        try:
            queue = depth_of(operations(ops), "image_generation")
            assert queue["queuedTasks"] == 2
            assert queue["depth"] >= 1  # a worker may have fetched one message ahead
            assert queue["delayed"] == 0
        finally:
            for task_id in waiting:
                finish(api, task_id)


def test_a_caller_without_an_admin_key_is_forbidden_and_learns_nothing(
    stack: Stack, api: Api, bob: Api
) -> None:
    for caller in (api, bob):
        body = caller.execute(OPERATIONS)
        assert body["data"] == {"operations": None}, body
        [error] = body["errors"]
        assert error["extensions"]["code"] == "FORBIDDEN" and error["path"] == ["operations"]
        text = httpx.Response(200, json=body).text
        for secret in (socket.gethostname(), "image_generation", str(worker_process(stack))):
            assert secret not in text, text


def test_a_caller_with_no_valid_key_is_unauthenticated(stack: Stack) -> None:
    for key in (None, "not-a-key"):
        body = Api(stack.http_url, stack.ws_url, key=key).execute(OPERATIONS)
        assert body["data"] == {"operations": None}, body
        assert [e["extensions"]["code"] for e in body["errors"]] == ["UNAUTHENTICATED"]


@pytest.mark.parametrize("limit", [0, -1, 1001])
def test_a_running_tasks_limit_out_of_bounds_is_bad_user_input(ops: Api, limit: int) -> None:
    body = ops.execute(OPERATIONS, limit=limit)
    [error] = body["errors"]
    assert error["extensions"] == {"code": "BAD_USER_INPUT", "field": "limit"}, error
    assert body["data"] == {"operations": None}


def test_an_admin_key_is_an_ordinary_key_too(api: Api, ops: Api) -> None:
    task = ops.submit(generation("an operator's own task"))
    assert ops.wait_for(task["id"], is_terminal)["status"] == "SUCCEEDED"
    assert task["id"] in {t["id"] for t in ops.data(TASKS)["tasks"]}
    assert api.get(task["id"]) is None  # still the operator's own


# -- stacks of their own -------------------------------------------------------------


@pytest.fixture
def bare(redis_url: str, stack_models: Path, tmp_path: Path) -> Iterator[Stack]:
    """A web node with no worker yet; workers it starts announce themselves every 0.5 s,
    count as gone after 3 s of silence, and hand their task back 1 s into a shutdown."""
    env = {
        "ATELIER_HEARTBEAT_EVERY": "0.5",
        "ATELIER_WORKER_STALE_AFTER": "3",
        "ATELIER_PRELOAD": "IMAGE_GENERATION",
        "ATELIER_SHUTDOWN_GRACE": "1",
    }
    with Stack(redis_url, tmp_path, stack_models, env).held() as stack:
        stack.start_web()
        yield stack


def readyz(stack: Stack) -> httpx.Response:
    return httpx.get(f"{stack.http_url}/readyz", timeout=5)


def memory_checked(body: dict[str, Any]) -> dict[str, Any]:
    """`body` without `checks.memory`, which reports on the Redis the tests share, once
    checked to be no warning."""
    assert body["checks"].pop("memory").startswith("ok"), body
    return body


def test_without_workers_the_web_is_not_ready_and_tasks_wait_in_the_queue(bare: Stack) -> None:
    ops = Api(bare.http_url, bare.ws_url, key=OPS_KEY)
    unready = readyz(bare)
    assert unready.status_code == 503
    assert memory_checked(unready.json()) == {
        "status": "not ready",
        "checks": {"redis": "ok", "workers": "none seen in the last 3 s"},
        "workers": 0,
    }

    for n in range(3):
        ops.submit(generation(f"nobody takes this {n}"))
    ops.submit({"imageGeneration": {"prompt": "x", "width": 64, "height": 64, "model": "sd15"}})

    view = operations(ops)
    assert view["workers"] == [] and view["runningTasks"] == []
    queues = {q["name"]: q for q in view["queues"]}
    assert queues["image_generation"] == {
        "name": "image_generation",
        "depth": 3,
        "delayed": 0,
        "queuedTasks": 3,
    }
    assert queues["image_generation.sd15"]["depth"] == 1
    assert all(q["depth"] == 0 for name, q in queues.items() if not name.startswith("image_"))
    # Not being ready is a state, not an error: only the access log has the 503s.
    log = "\n".join(process.output() for process in bare.processes)
    assert '"GET /readyz" 503' in log
    assert "Service Unavailable: /readyz" not in log


def test_readyz_turns_ready_with_a_worker_and_unready_once_it_is_lost(bare: Stack) -> None:
    assert readyz(bare).status_code == 503
    worker = bare.start_worker()
    bare.wait_for_log(worker, WORKER_READY, timeout=300)

    ready = eventually(lambda: readyz(bare), lambda r: r.status_code == 200, timeout=10)
    assert memory_checked(ready.json()) == {
        "status": "ready",
        "checks": {"redis": "ok", "workers": "ok"},
        "workers": 1,
    }

    worker.kill()
    killed = time.monotonic()
    unready = eventually(lambda: readyz(bare), lambda r: r.status_code == 503, timeout=15)
    took = time.monotonic() - killed
    print(f"/readyz turned 503 {took:.1f} s after the worker was killed (window 3 s)")
    assert unready.json()["checks"]["workers"] == "none seen in the last 3 s"
    assert 3 - 0.5 - 0.3 <= took <= 3 + 2  # within the window after its last announcement
    assert operations(Api(bare.http_url, bare.ws_url, key=OPS_KEY))["workers"] == []


def test_a_stopping_worker_shows_as_stopping_and_leaves_at_once_when_it_exits(
    bare: Stack,
) -> None:
    ops = Api(bare.http_url, bare.ws_url, key=OPS_KEY)
    worker = bare.start_worker()
    bare.wait_for_log(worker, WORKER_READY, timeout=300)
    task = ops.submit(held_generation())  # still running when its grace ends
    ops.wait_for(task["id"], lambda t: t["status"] == "RUNNING")

    worker.terminate()  # as `docker stop`: the running task gets its grace period
    [stopping] = eventually(lambda: operations(ops)["workers"], lambda w: w and w[0]["stopping"])
    assert stopping["currentTask"] == {"id": task["id"], "kind": "IMAGE_GENERATION"}
    worker.popen.wait(60)

    # Withdrawn as it exited, not left to lapse 3 s after its last announcement.
    assert operations(ops)["workers"] == []
    assert readyz(bare).status_code == 503
    assert ops.get(task["id"])["status"] == "QUEUED"  # type: ignore[index]  # handed back


def test_readyz_can_be_told_not_to_require_workers(
    redis_url: str, stack_models: Path, tmp_path: Path
) -> None:
    stack = Stack(redis_url, tmp_path, stack_models, {"ATELIER_READY_REQUIRES_WORKERS": "0"})
    try:
        stack.start_web()
        ready = readyz(stack)
        assert ready.status_code == 200
        assert memory_checked(ready.json()) == {
            "status": "ready",
            "checks": {"redis": "ok", "workers": "none seen in the last 20 s (not required)"},
            "workers": 0,
        }
    finally:
        stack.stop()
        stack.purge()


def test_with_no_keys_configured_the_anonymous_caller_is_the_operator(
    redis_url: str, stack_models: Path, tmp_path: Path
) -> None:
    stack = Stack(
        redis_url, tmp_path, stack_models, {"ATELIER_API_KEYS": "", "ATELIER_ADMIN_KEYS": ""}
    )
    try:
        web = stack.start_web()
        view = operations(Api(stack.http_url, stack.ws_url, key=None))
        assert view["workers"] == [] and {q["name"] for q in view["queues"]} >= {"face_swap"}
        assert "operators' view" in web.output()
    finally:
        stack.stop()
        stack.purge()


# -- configuration -------------------------------------------------------------------


def test_admin_keys_are_valid_keys_and_name_the_operators() -> None:
    config = load({"ATELIER_API_KEYS": "alice:a-key", "ATELIER_ADMIN_KEYS": "ops:o-key"})
    assert config.api_keys == {"a-key": "alice", "o-key": "ops"}
    assert config.admin_keys == {"o-key": "ops"}
    # Only admin keys configured: still keys, so no anonymous caller.
    assert load({"ATELIER_ADMIN_KEYS": "ops:o-key"}).api_keys == {"o-key": "ops"}


@pytest.mark.parametrize(
    ("api_keys", "admin_keys"),
    [
        ("alice:a-key", "alice:another-key"),  # alice's tasks would be an operator's
        ("alice:shared-key", "ops:shared-key"),  # one key, two names
        ("", "ops"),  # not name:key
    ],
)
def test_admin_keys_that_would_blur_who_is_who_are_refused(api_keys: str, admin_keys: str) -> None:
    with pytest.raises(SystemExit):
        load({"ATELIER_API_KEYS": api_keys, "ATELIER_ADMIN_KEYS": admin_keys})


@pytest.mark.parametrize(("every", "stale_after"), [("5", "5"), ("0", "20"), ("30", "20")])
def test_a_staleness_window_not_longer_than_the_heartbeat_is_refused(
    every: str, stale_after: str
) -> None:
    with pytest.raises(SystemExit):
        load({"ATELIER_HEARTBEAT_EVERY": every, "ATELIER_WORKER_STALE_AFTER": stale_after})
