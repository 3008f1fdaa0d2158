"""Submit a text-to-image task to Atelier and follow it to the end with a progress bar;
with `--image`, an image-to-image task that redraws that picture.

    pip install "gql[websockets]"
    ATELIER_URL=ws://127.0.0.1:8000/graphql ATELIER_API_KEY=<key> \\
        python clients/python/example.py "a lighthouse at dusk" --steps 20
    python clients/python/example.py "the same, in watercolour" --image photo.png \\
        --strength 0.5 --num-images 2

Every image of the result is printed (a signed link to each, with its seed).

Both operations run over one websocket (protocol graphql-transport-ws), authenticated
by the connection_init payload. Ctrl-C cancels the task. Exits 0 when the task
SUCCEEDED, 1 when it FAILED or was CANCELLED (or on an error), 2 on bad arguments.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

from gql import Client, GraphQLRequest
from gql.transport.exceptions import TransportError, TransportQueryError
from gql.transport.websockets import WebsocketsTransport
from websockets.exceptions import ConnectionClosed

# Every task event is a whole `Task`: one fragment serves the mutations and the
# subscription (the same operations as clients/typescript/src/operations.graphql).
DOCUMENT = """
fragment TaskFields on Task {
  id kind status progress stage stageCode step totalSteps queuePosition sequence attempts
  cancelRequested createdAt startedAt finishedAt expiresAt
  preview { width height url }
  error { code reason message }
  result {
    seed seeds promptUsed negativePromptUsed metadata
    details { model device steps numImages demo timings { phase ms } }
    images { contentType width height url }
  }
}

mutation SubmitTask($input: SubmitTaskInput!, $idempotencyKey: String) {
  submitTask(input: $input, idempotencyKey: $idempotencyKey) { ...TaskFields }
}

mutation CancelTask($id: ID!) {
  cancelTask(id: $id) { ...TaskFields }
}

subscription TaskProgress($id: ID!) {
  taskProgress(id: $id) { ...TaskFields }
}
"""

TERMINAL = {"SUCCEEDED", "FAILED", "CANCELLED"}
BAR_WIDTH = 30


def request(operation: str, **variables: Any) -> GraphQLRequest:
    return GraphQLRequest(DOCUMENT, operation_name=operation, variable_values=variables)


def progress_bar(task: dict[str, Any]) -> str:
    """`[##########....................]  33% RUNNING   denoising 2/6`"""
    progress = float(task["progress"])
    filled = min(BAR_WIDTH, max(0, int(progress * BAR_WIDTH)))
    parts = [f"[{'#' * filled}{'.' * (BAR_WIDTH - filled)}]", f"{int(progress * 100)}%".rjust(4)]
    parts.append(task["status"].ljust(9))
    if task["stage"]:
        parts.append(task["stage"])
    if task["step"] is not None and task["totalSteps"] is not None:
        parts.append(f"{task['step']}/{task['totalSteps']}")
    if task["queuePosition"] is not None:
        parts.append(f"(position {task['queuePosition']} in the queue)")
    cancelling = task["stageCode"] == "CANCELLING"
    if task["cancelRequested"] and task["status"] not in TERMINAL and not cancelling:
        parts.append("(cancelling)")
    return " ".join(parts)


def made_by(details: dict[str, Any]) -> str:
    """`tiny-random on cpu in 4 steps (812 ms) [demo model: random weights]`, from the
    typed metadata."""
    made = [details["model"] or "?", "on", details["device"] or "?"]
    if details["steps"] is not None:
        made.append(f"in {details['steps']} steps")
    total = next((t["ms"] for t in details["timings"] if t["phase"] == "total"), None)
    if total is not None:
        made.append(f"({round(total)} ms)")
    if details["demo"]:
        made.append("[demo model: random weights]")
    return " ".join(made)


def describe(task: dict[str, Any]) -> str:
    lines = [f"{task['status']} {task['kind']} {task['id']}"]
    result = task["result"]
    if result:
        # One line per image ("image:", or "image 1:", "image 2:", ... for several),
        # its size and type under it.
        images, seeds = result["images"], result["seeds"] or []
        for number, image in enumerate(images, start=1):
            label = f"image {number}:" if len(images) > 1 else "image:"
            lines.append(f"{label:<9} {image['url']}")
            lines.append(f"          {image['width']}x{image['height']} {image['contentType']}")
        if len(seeds) > 1:
            lines.append(f"seeds:    {', '.join(str(seed) for seed in seeds)}")
        elif result["seed"] is not None:
            lines.append(f"seed:     {result['seed']}")
        if result["promptUsed"] is not None:
            lines.append(f"prompt:   {result['promptUsed']}")
        lines.append(f"made by:  {made_by(result['details'])}")
        lines.append(f"metadata: {json.dumps(result['metadata'])}")
    if task["error"]:
        lines.append(f"error:    {task['error']['code']}: {task['error']['message']}")
        # The enum beside the code, to switch on: these two say nothing against the input.
        if task["error"]["reason"] in ("DEADLINE_EXCEEDED", "WORKER_LOST"):
            lines.append("          (the same input may succeed if submitted again)")
    if task["expiresAt"]:
        lines.append(f"expires:  {task['expiresAt']}")
    return "\n".join(lines)


# Atelier's websocket close codes (README, "Websocket close codes").
CLOSE_CODES = {
    4403: "bad or missing API key: check ATELIER_API_KEY",
    4408: "no connection_init in time",
    4429: "too many messages on this connection",
}


def explain(error: BaseException) -> str:
    """GraphQL errors with the `extensions.code` that Atelier puts on every one; a
    close code or a socket error from under gql's transport errors."""
    if isinstance(error, TransportQueryError) and error.errors:
        described = []
        for item in error.errors:
            extensions = item.get("extensions") or {}
            field = f" ({extensions['field']})" if extensions.get("field") else ""
            described.append(f"{extensions.get('code', 'ERROR')}{field}: {item.get('message')}")
        return "; ".join(described)
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, ConnectionClosed) and cause.rcvd is not None:
            code, reason = cause.rcvd.code, cause.rcvd.reason
            why = ": ".join(filter(None, [CLOSE_CODES.get(code, ""), reason]))
            return f"the websocket closed with {code}" + (f" ({why})" if why else "")
        if isinstance(cause, OSError):
            return f"{error}: {cause}"
        cause = cause.__cause__ or cause.__context__
    return str(error) or type(error).__name__


def parse(argv: list[str]) -> dict[str, Any]:
    """The `SubmitTaskInput`: {"imageGeneration": {...}}, or {"imageToImage": {...}}
    with --image."""
    parser = argparse.ArgumentParser(description="Generate or redraw images with Atelier.")
    parser.add_argument("prompt")
    parser.add_argument("--image", type=Path, help="a PNG, JPEG or WebP to redraw")
    parser.add_argument("--strength", type=float, help="with --image: 0 < s <= 1")
    parser.add_argument("--width", type=int)
    parser.add_argument("--height", type=int)
    parser.add_argument("--steps", type=int)
    parser.add_argument("--seed", type=int)
    parser.add_argument("--num-images", type=int)
    parser.add_argument("--scheduler", help="euler, euler-ancestral, dpmpp-2m, ddim, ...")
    parser.add_argument("--model")
    parser.add_argument("--previews", action="store_true")
    args = parser.parse_args(argv)  # exits 2 on bad arguments
    # Left out, a field takes the server's default (512x512, 30 steps, a random seed,
    # one image, the model's own scheduler; strength 0.6).
    given = {
        "steps": args.steps,
        "seed": args.seed,
        "numImages": args.num_images,
        "scheduler": args.scheduler,
        "model": args.model,
    }
    if args.image is None:
        if args.strength is not None:
            parser.error("--strength needs --image")
        given |= {"width": args.width, "height": args.height}
    else:
        if args.width is not None or args.height is not None:
            parser.error("--image gives the size: leave out --width and --height")
        try:
            picture = args.image.read_bytes()
        except OSError as error:
            parser.error(f"--image: {error}")
        # Plain base64 (a data: URL would do as well); the server checks the format.
        given |= {"image": base64.b64encode(picture).decode(), "strength": args.strength}
    fields = {
        "prompt": args.prompt,
        "previews": args.previews,
        **{name: value for name, value in given.items() if value is not None},
    }
    return {"imageToImage" if args.image else "imageGeneration": fields}


async def run(task_input: dict[str, Any]) -> int:
    url = os.environ.get("ATELIER_URL") or "ws://127.0.0.1:8000/graphql"
    key = os.environ.get("ATELIER_API_KEY")
    transport = WebsocketsTransport(
        url=url,
        init_payload={"Authorization": f"Bearer {key}"} if key else {},
        subprotocols=[WebsocketsTransport.GRAPHQLWS_SUBPROTOCOL],  # graphql-transport-ws
    )
    tty = sys.stdout.isatty()
    task: dict[str, Any] | None = None
    try:
        async with Client(transport=transport) as session:
            submitted = await session.execute(request("SubmitTask", input=task_input))
            task = submitted["submitTask"]
            print(f"submitted {task['kind']} {task['id']} to {url}", flush=True)

            # Ctrl-C asks the server to cancel; the subscription then ends with CANCELLED.
            task_id = task["id"]
            loop = asyncio.get_running_loop()
            pending: set[asyncio.Task[Any]] = set()

            def cancelled(job: asyncio.Task[Any]) -> None:
                pending.discard(job)
                error = None if job.cancelled() else job.exception()
                if error is not None:
                    print(f"cancel failed: {explain(error)}", file=sys.stderr)

            def cancel() -> None:
                print("\ncancelling… (Ctrl-C again to quit)", file=sys.stderr)
                loop.remove_signal_handler(signal.SIGINT)
                job = loop.create_task(session.execute(request("CancelTask", id=task_id)))
                pending.add(job)  # a reference, so the job is not collected mid-flight
                job.add_done_callback(cancelled)

            loop.add_signal_handler(signal.SIGINT, cancel)
            async for event in session.subscribe(request("TaskProgress", id=task_id)):
                task = event["taskProgress"]
                # On a terminal, one line redrawn in place; in a log, one line per event.
                if tty:
                    print(f"\r{progress_bar(task)}\x1b[K", end="", flush=True)
                else:
                    print(progress_bar(task), flush=True)
            if tty:
                print()
    except (TransportError, OSError) as error:  # TimeoutError is an OSError
        print(("\n" if tty else "") + explain(error), file=sys.stderr)
        return 1
    assert task is not None
    if task["status"] not in TERMINAL:
        print(f"the subscription ended while the task was {task['status']}", file=sys.stderr)
        return 1
    print(describe(task))
    return 0 if task["status"] == "SUCCEEDED" else 1


def main() -> int:
    return asyncio.run(run(parse(sys.argv[1:])))


if __name__ == "__main__":
    sys.exit(main())
