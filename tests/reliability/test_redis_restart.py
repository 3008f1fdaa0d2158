"""Redis restarted under a running stack: with AOF on, queued and running tasks survive.

A private redis-server with `appendonly yes` (the production setting in
compose.yaml), restarted on the same port and data folder while a task runs and
others wait in the queue. Web and worker reconnect by themselves.
"""

from __future__ import annotations

import time
from pathlib import Path

import httpx
import pytest

from project.devredis import EmbeddedRedis
from tests.client import GET, Api
from tests.stack import running_stack
from tests.stepgate import held

TASKS = 6
TASK = {"imageGeneration": {"prompt": "a patient cat", "width": 64, "height": 64, "steps": 40}}
# The first is held at a step (tests.stepgate) until Redis is back: one task is running and
# the others are queued when Redis goes down, however fast the machine.
HELD = {"imageGeneration": {**TASK["imageGeneration"], "prompt": held("a held cat")}}


def test_tasks_survive_a_redis_restart(stack_models: Path, tmp_path: Path) -> None:
    server = EmbeddedRedis(tmp_path / "redis", appendonly=True).start()
    env = {"ATELIER_LEASE_SECONDS": "10", "ATELIER_PRELOAD": "IMAGE_GENERATION"}
    try:
        with running_stack(server.url, tmp_path / "stack", stack_models, env) as stack:
            api = Api(stack.http_url, stack.ws_url)
            ids = [api.submit(HELD if n == 0 else TASK)["id"] for n in range(TASKS)]
            api.wait_for(ids[0], lambda t: t["status"] == "RUNNING", timeout=60)

            server.stop()
            time.sleep(1)
            server.start()
            restarted = time.monotonic()
            answering = wait_until_api_answers(api)
            stack.release(ids[0])

            finals = [
                api.wait_for(task_id, lambda t: t["status"] in TERMINAL, timeout=120)
                for task_id in ids
            ]
            drained = time.monotonic() - restarted
            print(
                f"\nRedis restarted: API answering after {answering:.2f} s, "
                f"all {TASKS} tasks ended {drained:.2f} s after the restart"
            )
            assert [task["status"] for task in finals] == ["SUCCEEDED"] * TASKS, finals
    finally:
        server.stop()


TERMINAL = {"SUCCEEDED", "FAILED", "CANCELLED"}


def wait_until_api_answers(api: Api, timeout: float = 30) -> float:
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        try:
            body = api.execute(GET, id="00000000-0000-4000-8000-000000000000")
        except (httpx.HTTPError, AssertionError):
            body = {}
        if "data" in body and not body.get("errors"):
            return time.monotonic() - started
        time.sleep(0.2)
    pytest.fail("the API did not answer again after Redis came back")
