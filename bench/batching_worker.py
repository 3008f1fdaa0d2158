"""bench.batching's worker path: `tasks` compatible tasks on one worker, against the
bare diffusers call making as many images at the same batch size.

Per ATELIER_BATCH_EXACT (1: "exact", 0: "batched") and ATELIER_MAX_BATCH b, one
worker process is started with those settings (and the same torch threads as the bare
call), alone on the stack's queues. Per size, after a warm-up of 2b tasks (new shapes
build CPU kernels), each round:

  bare    `tasks` images made by the bare call in this process, b at a time (a list of
          b prompts and b generators, as a batch of b tasks passes them): images/s
          against which the round right after it is read, so noise hits both alike;
  worker  `tasks` text-to-image tasks (different prompts and seeds, the same size and
          steps, no prompt refinement) in one submitTasks call, then polled cheaply
          until all have ended. Each task's latency is its submit .. its finishedAt
          (the outcome's write, by this machine's clock: a client hears of it a few ms
          later); images/s is `tasks` / (submit .. the last finishedAt). The batch
          each task ran in is its result's metadata `batch.tasks` (1: it ran alone).

The batching itself is the job system's (actors/worker/batching.py); nothing here
decides which tasks share a call.
"""

from __future__ import annotations

import statistics
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from bench.harness import TERMINAL, start_worker_with
from bench.stats import summary
from project.localclient import Api
from project.localstack import Stack

PATHS = {"exact": True, "batched": False}  # name -> ATELIER_BATCH_EXACT
SUBMIT_MANY = """
mutation SubmitMany($inputs: [SubmitTaskInput!]!) { submitTasks(inputs: $inputs) { id } }
"""
STATUS = "query Status($id: ID!) { task(id: $id) { status } }"
NEWEST = """
query Newest($limit: Int!) {
  tasks(limit: $limit) { id status finishedAt error { code message } result { metadata } }
}"""
POLL_SECONDS = 0.1  # a poll costs the web node a few ms: it shares the machine
TIMEOUT_SECONDS = 1800.0

# One call of the bare pipeline making `batch` images at `size`: its seconds.
BareCall = Callable[[int, int], float]


@dataclass(frozen=True)
class Round:
    """One round of tasks on a worker, and the bare call's images/s just before it."""

    wall: float  # seconds, submit .. the last finishedAt
    latencies: list[float]  # seconds, submit .. finishedAt, per task
    batches: list[int]  # the batch each task ran in
    bare_images_per_second: float
    failed: list[str]

    @property
    def images_per_second(self) -> float:
        return len(self.latencies) / self.wall


def task_inputs(count: int, size: int, steps: int, first: int) -> list[dict[str, Any]]:
    """`count` compatible tasks: their prompts and seeds differ, nothing else."""
    return [
        {
            "imageGeneration": {
                "prompt": f"a lighthouse on a cliff at dusk #{first + k}",
                "negativePrompt": "blurry",
                "seed": first + k,
                "width": size,
                "height": size,
                "steps": steps,
                "refinePrompt": False,
            }
        }
        for k in range(count)
    ]


def run_tasks(api: Api, inputs: list[dict[str, Any]]) -> tuple[float, list[dict[str, Any]]]:
    """Submit `inputs` in one call and wait for all to end; (the wall-clock time of the
    submit, each task as `NEWEST` reads it once all have ended)."""
    submitted = time.time()
    ids = [task["id"] for task in api.data(SUBMIT_MANY, inputs=inputs)["submitTasks"]]
    deadline = time.monotonic() + TIMEOUT_SECONDS
    # Tasks start in queue order: the last submitted is about the last to end; then
    # one look at all of them (the newest of this stack's only key are these).
    while True:
        if api.data(STATUS, id=ids[-1])["task"]["status"] in TERMINAL:
            tasks = api.data(NEWEST, limit=len(ids))["tasks"]
            if all(task["status"] in TERMINAL for task in tasks):
                break
        if time.monotonic() > deadline:
            raise TimeoutError(f"{len(ids)} tasks not ended after {TIMEOUT_SECONDS} s")
        time.sleep(POLL_SECONDS)
    if {task["id"] for task in tasks} != set(ids):
        raise RuntimeError("the newest tasks are not the ones just submitted")
    return submitted, tasks


def one_round(
    api: Api, bare: BareCall, size: int, batch: int, steps: int, tasks: int, first: int
) -> Round:
    bare_seconds = sum(bare(size, n) for n in _calls(tasks, batch))
    submitted, ended = run_tasks(api, task_inputs(tasks, size, steps, first))
    finished = [_epoch(task["finishedAt"]) for task in ended]
    return Round(
        wall=max(finished) - submitted,
        latencies=[at - submitted for at in finished],
        batches=[_batch_of(task) for task in ended if task["status"] == "SUCCEEDED"],
        bare_images_per_second=tasks / bare_seconds,
        failed=[
            f"{t['id']} {t['status']}: {t['error']}" for t in ended if t["status"] != "SUCCEEDED"
        ],
    )


@contextmanager
def worker(stack: Stack, batch: int, exact: bool, threads: int) -> Iterator[None]:
    """One worker on `stack` with ATELIER_MAX_BATCH `batch`, for the block."""
    env = {
        "ATELIER_MAX_BATCH": str(batch),
        "ATELIER_BATCH_EXACT": "1" if exact else "0",
        "OMP_NUM_THREADS": str(threads),
    }
    process = start_worker_with(stack, env, f"worker-b{batch}-{'exact' if exact else 'batched'}")
    try:
        yield
    finally:
        process.stop()


def measure(
    stack: Stack,
    bare: BareCall,
    *,
    sizes: Sequence[int],
    batches: Sequence[int],
    paths: Sequence[str],
    steps: int,
    tasks: int,
    rounds: int,
    threads: int,
) -> dict[str, Any]:
    """{size: {path: {batch: figures}}} (see `figures`); `stack`'s web node is running
    and no worker."""
    api = Api(stack.http_url, stack.ws_url)
    found: dict[int, dict[str, dict[int, list[Round]]]] = {
        size: {path: {} for path in paths} for size in sizes
    }
    first = 0
    for path in paths:
        for batch in batches:
            with worker(stack, batch, PATHS[path], threads):
                for size in sizes:
                    warm_up = max(2, 2 * batch)
                    for n in _calls(warm_up, batch):
                        bare(size, n)
                    run_tasks(api, task_inputs(warm_up, size, steps, first))
                    first += warm_up
                    runs = found[size][path][batch] = []
                    for _ in range(rounds):
                        runs.append(one_round(api, bare, size, batch, steps, tasks, first))
                        first += tasks
    return {
        str(size): {path: figures(rows) for path, rows in by_path.items()}
        for size, by_path in found.items()
    }


def figures(rows: dict[int, list[Round]]) -> dict[str, Any]:
    """Per batch size: images/s (the median round's; also the fastest round's, less
    sensitive to other load on the machine), latency, the batch achieved, the ratio
    to batch 1's images/s (the smallest batch measured) and to the bare call's (the
    median of each round's ratio to the bare calls just before it)."""
    out: dict[str, Any] = {}
    for batch, runs in rows.items():
        rate = statistics.median(run.images_per_second for run in runs)
        bare = statistics.median(run.bare_images_per_second for run in runs)
        paired = statistics.median(
            run.images_per_second / run.bare_images_per_second for run in runs
        )
        sizes = [size for run in runs for size in run.batches]
        calls = sum(1 / size for size in sizes)  # a batch of n: n tasks, one call
        out[str(batch)] = {
            "imagesPerSecond": round(rate, 2),
            "imagesPerSecondBest": round(max(run.images_per_second for run in runs), 2),
            "latencyS": summary([s for run in runs for s in run.latencies]),
            "meanBatch": round(len(sizes) / calls, 2) if sizes else None,
            "batchCalls": {str(n): round(count / n) for n, count in sorted(Counter(sizes).items())},
            "bareImagesPerSecond": round(bare, 2),
            "vsBare": round(paired, 2),
            "rounds": len(runs),
            "failed": [error for run in runs for error in run.failed],
        }
    base = out[str(min(rows))]
    for row in out.values():
        for key, of in (("vsBatch1", "imagesPerSecond"), ("vsBatch1Best", "imagesPerSecondBest")):
            row[key] = round(row[of] / base[of], 2)
    return out


def _calls(images: int, batch: int) -> list[int]:
    """The batch sizes of the calls that make `images` images, `batch` at a time."""
    return [min(batch, images - start) for start in range(0, images, batch)]


def _epoch(iso: str) -> float:
    return datetime.fromisoformat(iso).timestamp()


def _batch_of(task: dict[str, Any]) -> int:
    batch = (task["result"]["metadata"] or {}).get("batch")
    return int(batch["tasks"]) if batch else 1
