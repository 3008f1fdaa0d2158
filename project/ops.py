"""The operators' page at `/ops`: one HTML page, a script and a stylesheet from
`project/ops/`, served as the demo page is (`project.demo`: versioned assets, the same
strict Content-Security-Policy).

The page holds no secret and no data: it asks for an admin key, keeps it in the
tab's sessionStorage, and reads everything over the public API
(`operationsUpdates` over graphql-transport-ws, `cancelAnyTask` over HTTP), so the
API's own checks decide what it may see and do.
"""

from __future__ import annotations

import functools
from pathlib import Path

from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.http import require_safe

from project.demo import CACHE_FOREVER, StaticFile, content_security_policy

FOLDER = Path(__file__).resolve().parent / "ops"
CONTENT_TYPES = {
    "index.html": "text/html; charset=utf-8",
    "ops.js": "text/javascript; charset=utf-8",
    "ops.css": "text/css; charset=utf-8",
}
ASSETS = ("ops.js", "ops.css")


@functools.cache
def asset(name: str) -> StaticFile:
    return StaticFile.of((FOLDER / name).read_bytes(), CONTENT_TYPES[name])


@functools.cache
def page() -> StaticFile:
    html = (FOLDER / "index.html").read_text(encoding="utf-8")
    for name in ASSETS:
        html = html.replace(f'"/ops/{name}"', f'"/ops/{name}?v={asset(name).version}"')
    return StaticFile.of(html.encode(), CONTENT_TYPES["index.html"])


@require_safe
async def index(request: HttpRequest) -> HttpResponse:
    """The operators' page; revalidated on every load."""
    response = page().response(request, "no-cache")
    response["Content-Security-Policy"] = content_security_policy()
    response["Referrer-Policy"] = "same-origin"
    return response


@require_safe
async def static(request: HttpRequest, name: str) -> HttpResponse:
    """The page's script or stylesheet: cached for good when asked for by the version
    the page names, else revalidated."""
    if name not in ASSETS:
        return HttpResponse("not found\n", status=404, content_type="text/plain")
    file = asset(name)
    versioned = request.GET.get("v") == file.version
    return file.response(request, CACHE_FOREVER if versioned else "no-cache")


urlpatterns = [
    path("ops", index),
    path("ops/<str:name>", static),
]
