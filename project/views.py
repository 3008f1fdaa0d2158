"""Plain HTTP endpoints beside GraphQL: signed image downloads, liveness and readiness."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

import redis
import redis.asyncio
from django.http import HttpRequest, HttpResponse, JsonResponse

from actors.store.registry import count_live
from graph.links import PREVIEW, LinkState, result_index
from project import services
from project.redismemory import RedisMemory, evictions

_T = TypeVar("_T")

# An image opened on its own is shown by the browser's image document, which needs
# nothing but the image itself.
IMAGE_CSP = "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; sandbox"


async def image(request: HttpRequest, task_id: str, variant: str) -> HttpResponse:
    """A result image or the preview PNG, for a link signed by `graph.links.LinkSigner`;
    404 for an image the task does not hold (e.g. "result-3" of a result of three)."""
    expires = request.GET.get("expires", "")
    signature = request.GET.get("sig", "")
    state = services.link_signer().check(task_id, variant, expires, signature)
    if state is LinkState.FORGED:
        return HttpResponse("invalid link\n", status=403, content_type="text/plain")
    if state is LinkState.EXPIRED:
        return HttpResponse("expired\n", status=404, content_type="text/plain")
    store = services.store()
    index = result_index(variant)
    try:
        if index is None:
            data = await asyncio.to_thread(store.preview_png, task_id)
        else:
            data = await asyncio.to_thread(store.result_png, task_id, index)
    except Exception:
        return HttpResponse("storage unavailable\n", status=503, content_type="text/plain")
    if data is None:
        return HttpResponse("not found\n", status=404, content_type="text/plain")
    response = HttpResponse(data, content_type="image/png")
    # Previews change under the same link; results never do.
    response["Cache-Control"] = "no-store" if variant == PREVIEW else "private, max-age=3600"
    # The bytes are a PNG and nothing else: no sniffing them into a script or a page,
    # and were a browser to render them as a document, it may run and load nothing.
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = IMAGE_CSP
    return response


async def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: 200 while this process serves requests. Touches no dependency, so a
    Redis outage never gets a healthy web node restarted."""
    return JsonResponse({"status": "alive"})


async def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: Redis answers, and some worker was heard from within
    ATELIER_WORKER_STALE_AFTER seconds (see actors.store.registry). 200 when both hold, else
    503; `checks` says which failed, `workers` how many are live. With
    ATELIER_READY_REQUIRES_WORKERS=0 the workers check is reported but does not
    fail. Each read has `READY_TIMEOUT`: never a hang. 503 once shutting down.

    `checks.memory` warns when Redis nears or reaches its maxmemory, or has evicted
    keys (`project.redismemory`), and never fails readiness: a full Redis still
    serves reads, refusing only writes (SERVICE_UNAVAILABLE), and every web node
    shares it, so failing them all would only turn that into a whole outage."""
    if services.shutting_down():
        return JsonResponse({"status": "shutting down", "checks": {}}, status=503)
    cfg = services.config()
    probe = services.readiness_probe()
    _, redis_problem = await _ask(probe.ping(), "PING")
    if redis_problem is not None:
        checks = {"redis": redis_problem, "workers": "not checked: Redis is not ready"}
        return JsonResponse({"status": "not ready", "checks": checks}, status=503)
    window = cfg.jobs.worker_stale_after
    live, workers_problem = await _ask(
        count_live(probe, prefix=cfg.jobs.key_prefix, stale_after=window), "a worker count"
    )
    if live == 0:
        workers_problem = f"none seen in the last {window:g} s"
    ready = workers_problem is None or not cfg.ready_requires_workers
    if workers_problem is not None and ready:
        workers_problem += " (not required)"
    memory, memory_problem = await _ask(_memory(probe), "INFO")
    if memory is not None:
        evictions.saw(memory)
    body = {
        "status": "ready" if ready else "not ready",
        "checks": {
            "redis": "ok",
            "workers": workers_problem or "ok",
            "memory": memory.check() if memory is not None else f"not checked: {memory_problem}",
        },
        "workers": live,
    }
    return JsonResponse(body, status=200 if ready else 503)


async def _memory(probe: redis.asyncio.Redis) -> RedisMemory:
    async with probe.pipeline(transaction=False) as pipe:
        pipe.info("memory")
        pipe.info("stats")  # one section per INFO: Redis 6 takes no more
        memory, stats = await pipe.execute()
    return RedisMemory.from_info(memory, stats)


async def _ask(call: Awaitable[_T], what: str) -> tuple[_T | None, str | None]:
    """(the answer, None), or (None, what went wrong) within `READY_TIMEOUT`."""
    timeout = services.READY_TIMEOUT
    try:
        return await asyncio.wait_for(call, timeout=timeout), None
    except (TimeoutError, redis.exceptions.TimeoutError):
        return None, f"no answer to {what} within {timeout:g} s"
    except (redis.exceptions.ConnectionError, OSError) as error:
        return None, f"unreachable ({type(error).__name__})"
    except redis.exceptions.RedisError as error:
        return None, f"{what} failed ({type(error).__name__})"
