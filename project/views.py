"""Plain HTTP endpoints beside GraphQL: signed image downloads, liveness and readiness."""

from __future__ import annotations

import asyncio

import redis
from django.http import HttpRequest, HttpResponse, JsonResponse

from graph.links import LinkState
from project import services


async def image(request: HttpRequest, task_id: str, variant: str) -> HttpResponse:
    """A result or preview PNG, for a link signed by `graph.links.LinkSigner`."""
    expires = request.GET.get("expires", "")
    signature = request.GET.get("sig", "")
    state = services.link_signer().check(task_id, variant, expires, signature)
    if state is LinkState.FORGED:
        return HttpResponse("invalid link\n", status=403, content_type="text/plain")
    if state is LinkState.EXPIRED:
        return HttpResponse("expired\n", status=404, content_type="text/plain")
    store = services.store()
    read = store.result_png if variant == "result" else store.preview_png
    try:
        data = await asyncio.to_thread(read, task_id)
    except Exception:
        return HttpResponse("storage unavailable\n", status=503, content_type="text/plain")
    if data is None:
        return HttpResponse("not found\n", status=404, content_type="text/plain")
    response = HttpResponse(data, content_type="image/png")
    # Previews change under the same link; results never do.
    response["Cache-Control"] = "no-store" if variant == "preview" else "private, max-age=3600"
    return response


async def healthz(request: HttpRequest) -> JsonResponse:
    """Liveness: 200 while this process serves requests. Touches no dependency, so a
    Redis outage never gets a healthy web node restarted."""
    return JsonResponse({"status": "alive"})


async def readyz(request: HttpRequest) -> JsonResponse:
    """Readiness: 200 when Redis answers PING within `READY_TIMEOUT`, else 503 saying
    what is not ready. Also 503 once the process is shutting down."""
    if services.shutting_down():
        return JsonResponse({"status": "shutting down", "checks": {}}, status=503)
    timeout = services.READY_TIMEOUT
    try:
        await asyncio.wait_for(services.readiness_probe().ping(), timeout=timeout)
    except (TimeoutError, redis.exceptions.TimeoutError):
        problem = f"no answer to PING within {timeout:g} s"
    except (redis.exceptions.RedisError, OSError) as error:
        problem = f"unreachable ({type(error).__name__})"
    else:
        return JsonResponse({"status": "ready", "checks": {"redis": "ok"}})
    return JsonResponse({"status": "not ready", "checks": {"redis": problem}}, status=503)
