"""Tasks run on a real stack show up, once each, in the web's /metrics (the cluster's
counts, read from Redis) and in the worker's own endpoint (its histograms and
Dramatiq's counters)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pytest
from PIL import Image

from tests.api.scenarios import generation, is_terminal, long_generation
from tests.client import Api, image_b64
from tests.observability.scrape import Scrape, scrape, scrape_until, scrape_when_up

IMAGE = "IMAGE_GENERATION"
FACES = "FACE_SWAP"


def seconds(task: dict[str, Any], start: str, end: str) -> float:
    return (datetime.fromisoformat(task[end]) - datetime.fromisoformat(task[start])).total_seconds()


def finished(scrape: Scrape, kind: str) -> dict[str, float]:
    return {
        status: scrape.value("atelier_tasks_finished_total", kind=kind, status=status)
        for status in ("SUCCEEDED", "FAILED", "CANCELLED")
    }


def changed(before: dict[str, float], after: dict[str, float]) -> dict[str, float]:
    return {key: after[key] - before[key] for key in before if after[key] != before[key]}


def test_a_succeeded_task_counts_once_in_the_cluster_and_in_its_worker(
    api: Api, web_metrics: str, worker_metrics: str
) -> None:
    worker_before = scrape_when_up(worker_metrics)
    web_before = scrape(web_metrics)
    steps = 3

    task = api.submit(generation("counted once", steps=steps))
    done = api.wait_for(task["id"], is_terminal)
    assert done["status"] == "SUCCEEDED", done

    web = scrape(web_metrics)
    assert web.value("atelier_redis_up") == 1
    assert web.delta(web_before, "atelier_tasks_submitted_total", kind=IMAGE) == 1
    assert changed(finished(web_before, IMAGE), finished(web, IMAGE)) == {"SUCCEEDED": 1}
    assert web.value("atelier_queue_tasks", queue="image_generation") == 0
    assert web.value("atelier_tasks_running") == 0
    assert web.types["atelier_tasks_finished"] == "counter"

    # Dramatiq counts the message once the actor has returned, and the run is counted
    # once its outcome is written and published (on the worker's finisher thread):
    # the worker's figures may trail the task by a moment.
    messages = {"queue_name": "image_generation", "actor_name": "atelier.image_generation"}
    run = {"kind": IMAGE, "outcome": "SUCCEEDED"}
    worker = scrape_until(
        worker_metrics,
        lambda now: (
            now.delta(worker_before, "dramatiq_messages_total", **messages) >= 1
            and now.delta(worker_before, "atelier_task_run_seconds_count", **run) >= 1
        ),
    )
    assert worker.delta(worker_before, "dramatiq_messages_total", **messages) == 1
    assert worker.delta(worker_before, "atelier_task_wait_seconds_count", kind=IMAGE) == 1
    # The wait is the record's own: created to started.
    waited = worker.delta(worker_before, "atelier_task_wait_seconds_sum", kind=IMAGE)
    assert waited == pytest.approx(seconds(done, "createdAt", "startedAt"), abs=0.002)
    assert worker.delta(worker_before, "atelier_task_run_seconds_count", **run) == 1
    # One pipeline call, for one task.
    assert worker.delta(worker_before, "atelier_worker_batch_tasks_count", kind=IMAGE) == 1
    assert worker.delta(worker_before, "atelier_worker_batch_tasks_sum", kind=IMAGE) == 1
    ran = worker.delta(worker_before, "atelier_task_run_seconds_sum", **run)
    assert 0 < ran <= seconds(done, "startedAt", "finishedAt") + 0.5
    # Steps 0 -> 1 -> 2 -> 3 of "denoising": three steps timed.
    assert worker.delta(worker_before, "atelier_task_step_seconds_count", kind=IMAGE) == steps
    assert 0 < worker.delta(worker_before, "atelier_task_step_seconds_sum", kind=IMAGE) < ran
    assert worker.types["atelier_task_run_seconds"] == "histogram"


def test_a_failed_task_counts_under_its_error_code(
    api: Api, web_metrics: str, worker_metrics: str
) -> None:
    worker_before = scrape_when_up(worker_metrics)
    web_before = scrape(web_metrics)
    blank = image_b64(Image.new("RGB", (64, 64), (128, 128, 128)))

    task = api.submit({"faceSwap": {"sourceImage": blank, "targetImage": blank}})
    done = api.wait_for(task["id"], is_terminal, timeout=120)
    assert (done["status"], done["error"]["code"]) == ("FAILED", "NO_FACE_FOUND"), done

    web = scrape(web_metrics)
    assert changed(finished(web_before, FACES), finished(web, FACES)) == {"FAILED": 1}
    no_face = {"kind": FACES, "code": "NO_FACE_FOUND"}
    assert web.delta(web_before, "atelier_tasks_failed_total", **no_face) == 1
    run = {"kind": FACES, "outcome": "FAILED"}
    worker = scrape_until(
        worker_metrics,
        lambda now: now.delta(worker_before, "atelier_task_run_seconds_count", **run) >= 1,
    )
    assert worker.delta(worker_before, "atelier_task_run_seconds_count", **run) == 1
    assert worker.delta(worker_before, "atelier_task_run_seconds_count", kind=FACES) == 0


def test_a_running_task_shows_running_and_counts_cancelled_once_stopped(
    api: Api, web_metrics: str, worker_metrics: str
) -> None:
    worker_before = scrape_when_up(worker_metrics)
    web_before = scrape(web_metrics)

    task = api.submit(long_generation("cancelled while running"))
    api.wait_for(task["id"], lambda t: t["status"] == "RUNNING" and (t["step"] or 0) > 0)
    running = scrape(web_metrics)
    api.cancel(task["id"])
    done = api.wait_for(task["id"], is_terminal)
    assert done["status"] == "CANCELLED", done

    assert running.value("atelier_tasks_running") == 1
    web = scrape(web_metrics)
    assert web.value("atelier_tasks_running") == 0
    assert changed(finished(web_before, IMAGE), finished(web, IMAGE)) == {"CANCELLED": 1}
    run = {"kind": IMAGE, "outcome": "CANCELLED"}
    worker = scrape_until(
        worker_metrics,
        lambda now: now.delta(worker_before, "atelier_task_run_seconds_count", **run) >= 1,
    )
    assert worker.delta(worker_before, "atelier_task_run_seconds_count", **run) == 1
    # It ran some steps before the cancel stopped it.
    assert worker.delta(worker_before, "atelier_task_step_seconds_count", kind=IMAGE) >= 1
