"""Per-task overhead of two checkouts of this repository, paired task by task.

bench.throughput measures one checkout; comparing two of its runs compares two
moments of a machine as much as two versions of the code. Here a stack of each
checkout (project/localstack.py: daphne and one worker, each on a private key
prefix of the same Redis) runs side by side, and the cheapest task goes to one then
the other in a random order each round, each right after one bare pipeline call (as
bench.throughput's overhead pairs it), so a noisy moment slows both alike.

    git worktree add /tmp/before <commit>
    python -m bench.throughput_ab /tmp/before . [--rounds 150]

Reports, per checkout, bench.throughput's overhead p50 (client time - the bare call)
and its breakdown, and the p50 of the paired difference of the two checkouts' client
times (A - B: positive when B is faster).
"""

from __future__ import annotations

import argparse
import asyncio
import random
import statistics
import tempfile
from contextlib import AsyncExitStack, ExitStack
from pathlib import Path
from typing import Any

import httpx

import project.localstack as localstack
from bench.baseline_loop import LoopChild
from bench.harness import (
    CHEAPEST,
    STACK_ENV,
    Follower,
    TaskRun,
    ensure_model,
    one_task,
    start_stack,
)
from bench.stats import report, table
from bench.throughput_report import breakdown, pipeline_ms

Pairs = list[tuple[TaskRun, float]]  # (a task, the bare call just before it, ms)


HERE = localstack.ROOT


def stack_of(root: Path, redis_url: str, model_dir: Path, work: Path) -> localstack.Stack:
    """A started stack whose processes run the code of the checkout at `root`: they
    start there (localstack's ROOT, read as each starts) and import from there."""
    localstack.ROOT = root
    try:
        return start_stack(localstack.Stack(redis_url, work, model_dir, dict(STACK_ENV)), 1)
    finally:
        localstack.ROOT = HERE


async def rounds(stacks: list[localstack.Stack], child: LoopChild, count: int) -> list[Pairs]:
    """`count` rounds of one task on each stack, in a random order each round, each
    right after one bare call in `child`."""
    headers = {"Authorization": f"Bearer {localstack.ALICE_KEY}"}
    pairs: list[Pairs] = [[] for _ in stacks]
    async with AsyncExitStack() as opened:
        clients = [
            await opened.enter_async_context(
                httpx.AsyncClient(base_url=stack.http_url, headers=headers, timeout=60)
            )
            for stack in stacks
        ]
        followers = []
        for stack in stacks:
            follower = await Follower.open(stack.ws_url, localstack.ALICE_KEY)
            opened.push_async_callback(follower.close)
            followers.append(follower)
        for _ in range(8):  # warm-up: connections, caches, the workers' first runs
            for client, follower in zip(clients, followers, strict=True):
                await one_task(client, follower, CHEAPEST, 60)
        for _ in range(count):
            order = list(range(len(stacks)))
            random.shuffle(order)
            for i in order:
                bare = await asyncio.to_thread(child.call, "go 1")
                run = await one_task(clients[i], followers[i], CHEAPEST, 60)
                pairs[i].append((run, float(bare["callMs"][0])))
    return pairs


def figures(pairs: Pairs) -> dict[str, Any]:
    ok = [(run, bare) for run, bare in pairs if not run.error]
    runs = [run for run, _ in ok]
    outside = [run.total_ms - ms for run in runs if (ms := pipeline_ms(run)) is not None]
    return {
        "tasks": len(ok),
        "failed": len(pairs) - len(ok),
        "overheadMsP50": round(statistics.median(run.total_ms - bare for run, bare in ok), 2),
        "outsidePipelineMsP50": round(statistics.median(outside), 2) if outside else None,
        "bareCallMsP50": round(statistics.median(bare for _, bare in ok), 2),
        "breakdownMsP50": {name: parts["p50"] for name, parts in breakdown(runs).items()},
    }


def measure(
    a: Path, b: Path, *, rounds_: int = 150, redis_url: str | None = None
) -> dict[str, Any]:
    model_dir = HERE / "var" / "bench-models"
    ensure_model(model_dir)
    url = redis_url or "redis://127.0.0.1:6379/0"
    with ExitStack() as cleanup:
        work = Path(cleanup.enter_context(tempfile.TemporaryDirectory(prefix="atelier-ab-")))
        stacks = []
        for name, root in (("a", a), ("b", b)):
            stack = stack_of(root.resolve(), url, model_dir, work / name)
            cleanup.callback(stack.purge)
            cleanup.callback(stack.stop)
            stacks.append(stack)
        child = LoopChild(model_dir)
        cleanup.callback(child.close)
        child.answer()  # ready
        pairs = asyncio.run(rounds(stacks, child, rounds_))
    paired = [
        run_a.total_ms - run_b.total_ms
        for (run_a, _), (run_b, _) in zip(pairs[0], pairs[1], strict=True)
        if not (run_a.error or run_b.error)
    ]
    result: dict[str, Any] = {
        "a": {"root": str(a), **figures(pairs[0])},
        "b": {"root": str(b), **figures(pairs[1])},
        "pairedClientMsDiffP50": round(statistics.median(paired), 2),
        "notes": ["pairedClientMsDiffP50: p50 of (a's client time - b's) per round; > 0: b faster"],
    }
    result["table"] = (
        table(
            ["checkout", "overhead p50 ms", "outside pipeline p50 ms", "bare call p50 ms"],
            [
                [
                    str(result[side]["root"]),
                    result[side]["overheadMsP50"],
                    result[side]["outsidePipelineMsP50"],
                    result[side]["bareCallMsP50"],
                ]
                for side in ("a", "b")
            ],
        )
        + f"\npaired client time, a - b, p50: {result['pairedClientMsDiffP50']} ms"
    )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("a", type=Path, help="a checkout of this repository (e.g. a worktree)")
    parser.add_argument("b", type=Path, help="another one")
    parser.add_argument("--rounds", type=int, default=150)
    parser.add_argument("--redis-url", default=None)
    parser.add_argument("--json", type=Path, default=None, help="also write the result here")
    args = parser.parse_args()
    result = measure(args.a, args.b, rounds_=args.rounds, redis_url=args.redis_url)
    report(result, args.json)


if __name__ == "__main__":
    main()
