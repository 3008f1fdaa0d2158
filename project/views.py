"""Plain HTTP endpoints beside GraphQL: signed image downloads and health."""

from __future__ import annotations

import asyncio

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
    """200 when Redis answers, 503 when it does not."""
    try:
        await asyncio.wait_for(asyncio.to_thread(services.store().ping), timeout=2)
    except Exception:
        return JsonResponse({"status": "unavailable", "redis": False}, status=503)
    return JsonResponse({"status": "ok", "redis": True})
