"""Queues by kind and by model: a worker serving one text-to-image model gets that
model's tasks and no others, so the model it holds warm is the one it needs."""

from __future__ import annotations

import os
from pathlib import Path

import redis

from pipelines import tiny_random
from tests.client import Api
from tests.stack import WORKER_READY, Stack


def test_each_model_queue_is_served_by_the_workers_pointed_at_it(
    redis_url: str, stack_models: Path, tmp_path: Path
) -> None:
    other_model = stack_models / "diffusers" / tiny_random.NAME
    stack = Stack(
        redis_url,
        tmp_path,
        stack_models,
        {"ATELIER_IMAGE_MODELS": f"second={other_model}", "ATELIER_PRELOAD": ""},
    )
    try:
        stack.start_web()
        default_only = stack.start_worker("default", queues=["image_generation"])
        second_only = stack.start_worker("second", queues=["image_generation.second"])
        for worker in (default_only, second_only):
            stack.wait_for_log(worker, WORKER_READY)
        api = Api(stack.http_url, stack.ws_url)
        small = {"prompt": "x", "width": 64, "height": 64, "steps": 1}

        on_default = [api.submit({"imageGeneration": small})["id"] for _ in range(3)]
        on_second = [
            api.submit({"imageGeneration": {**small, "model": "second"}})["id"] for _ in range(3)
        ]
        for task_id in on_default + on_second:
            final = api.wait_for(task_id, lambda t: t["status"] in ("SUCCEEDED", "FAILED"))
            assert final["status"] == "SUCCEEDED", final

        client = redis.Redis.from_url(redis_url, decode_responses=True)
        prefix = stack.env["ATELIER_KEY_PREFIX"]

        def ran_on(task_id: str) -> int:
            pid = int(client.hget(f"{prefix}task:{task_id}", "worker").rsplit(":", 1)[1])
            return os.getpgid(pid)

        assert {ran_on(task_id) for task_id in on_default} == {default_only.popen.pid}
        assert {ran_on(task_id) for task_id in on_second} == {second_only.popen.pid}
    except BaseException:
        print(stack.logs())
        raise
    finally:
        stack.stop()
        stack.purge()
