"""A websocket client that stops reading costs the web node bounded memory, and it
gets each operation's latest state (never a lost terminal one) once it reads again.

The client is real: its websockets library stops reading the TCP socket once one
frame waits unread (`max_queue=1`), so the kernel buffers fill and the server
holds what is left.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from websockets.exceptions import ConnectionClosed

from tests import wsclient
from tests.client import Api
from tests.observability.scrape import scrape
from tests.reliability.procstats import Memory, memory
from tests.stack import ALICE_KEY, Stack, running_stack

MiB = 2**20
SUBSCRIPTIONS = 20
# Each event selects the preview inline: tens of KiB per event per subscription.
FOLLOW = """subscription($id: ID!) {
  taskProgress(id: $id) { id status step sequence preview { base64 } }
}"""
PREVIEWS = {
    "imageGeneration": {
        "prompt": "a task whose subscribers stop reading",
        "width": 512,
        "height": 512,
        "steps": 150,
        "seed": 3,
        "refinePrompt": False,
        "previews": True,
    }
}
SUBMIT = "mutation($input: SubmitTaskInput!) { submitTask(input: $input) { id } }"
# Growth allowed while the client does not read: the coalesced frames (one event per
# subscription) and the socket buffers, with room for the allocator's own slack.
PEAK_BOUND = 120 * MiB
# Less than one event for each subscription: such a connection must be closed.
SMALL_BUFFER = 64 * 1024


@pytest.fixture(scope="module", params=[None, SMALL_BUFFER], ids=["default-buffer", "small-buffer"])
def slow_stack(
    request: pytest.FixtureRequest,
    redis_url: str,
    stack_models: Path,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Stack]:
    folder = tmp_path_factory.mktemp("slow-client-stack")
    env = {"ATELIER_WS_MAX_SUBSCRIPTIONS": str(SUBSCRIPTIONS)}
    if request.param is not None:
        env["ATELIER_WS_MAX_BUFFERED_BYTES"] = str(request.param)
    with running_stack(redis_url, folder, stack_models, env) as running:
        yield running


def _web_pid(stack: Stack) -> int:
    (web,) = [p for p in stack.processes if p.name.startswith("web")]
    return web.popen.pid


def test_a_client_that_stops_reading_costs_bounded_memory(slow_stack: Stack) -> None:
    api = Api(slow_stack.http_url, slow_stack.ws_url)
    pid = _web_pid(slow_stack)
    before = memory(pid)
    samples: list[Memory] = []

    async def run() -> tuple[dict[str, list[dict]] | None, int | None]:
        async with wsclient.session(slow_stack.ws_url, wsclient.TRANSPORT_WS, max_queue=1) as ws:
            await ws.init(ALICE_KEY)
            task = await asyncio.to_thread(api.data, SUBMIT, input=PREVIEWS)
            task_id = task["submitTask"]["id"]
            ops = {str(n) for n in range(SUBSCRIPTIONS)}
            for op in ops:
                await ws.subscribe(op, FOLLOW, id=task_id)
            # Not reading: the task runs to its end meanwhile.
            deadline = time.monotonic() + 600
            while True:
                samples.append(memory(pid))
                state = await asyncio.to_thread(api.get, task_id)
                if state is not None and state["status"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
                    assert state["status"] == "SUCCEEDED", state
                    break
                assert time.monotonic() < deadline, state
                await asyncio.sleep(0.25)
            samples.append(memory(pid))
            try:
                return await ws.until_done(ops, timeout=60), None
            except ConnectionClosed as closed:
                return None, closed.rcvd.code if closed.rcvd else None

    seen, code = asyncio.run(run())
    peak = max(samples, key=lambda m: m.rss)
    settled = memory(pid)
    figures = (
        f"web RSS {before.rss / MiB:.0f} MiB before, peak {peak.rss / MiB:.0f} MiB "
        f"({(peak.rss - before.rss) / MiB:+.0f}), {settled.rss / MiB:.0f} MiB after the close"
    )
    print(figures)
    assert peak.rss - before.rss < PEAK_BOUND, figures
    metrics = scrape(f"{slow_stack.http_url}/metrics")
    if "ATELIER_WS_MAX_BUFFERED_BYTES" in slow_stack.extra_env:
        # The close frame waits behind what the client has not read: unless it reads
        # again within the close handshake's timeout, the connection is dropped instead.
        assert seen is None and code in (4413, None), "a client past its buffer limit stays open"
        assert metrics.value("atelier_websocket_slow_client_closes_total") >= 1
        return
    assert seen is not None, f"closed with {code} within the default buffer limit"
    # The client did fall behind, and what it missed was superseded, not queued.
    assert metrics.value("atelier_websocket_results_superseded_total") > 0
    for op, frames in seen.items():
        events = [f["payload"]["data"]["taskProgress"] for f in frames if f["type"] == "next"]
        assert frames[-1]["type"] == "complete", (op, frames[-1])
        sequences = [e["sequence"] for e in events]
        assert sequences == sorted(set(sequences)), (op, sequences)
        assert events[-1]["status"] == "SUCCEEDED", (op, events[-1]["status"])
