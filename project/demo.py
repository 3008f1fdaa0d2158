"""The demo page at `/`: one HTML page, a script and a stylesheet from `project/demo/`.

The page is a client of the public API like any other: GraphQL over HTTP for
`submitTask` and `cancelTask` (the chosen images, and the mask it draws, as file
parts of a GraphQL multipart request), graphql-transport-ws for `taskProgress`. It
is served from the API's own origin, so `project.edge.origins` lets it in unconfigured.

The page names its assets with a digest of their content (`?v=`): a versioned
asset is cached for a year, while the page is revalidated on every load (ETag),
so a deploy shows at once. Files are read once per process.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.views.decorators.http import require_safe

from project import services

FOLDER = Path(__file__).resolve().parent / "demo"
CONTENT_TYPES = {
    "index.html": "text/html; charset=utf-8",
    "demo.js": "text/javascript; charset=utf-8",
    "demo.css": "text/css; charset=utf-8",
}
ASSETS = ("demo.js", "demo.css")
CACHE_FOREVER = "public, max-age=31536000, immutable"


@dataclass(frozen=True, slots=True)
class StaticFile:
    body: bytes
    content_type: str
    etag: str

    @classmethod
    def of(cls, body: bytes, content_type: str) -> StaticFile:
        return cls(body, content_type, f'"{hashlib.sha256(body).hexdigest()[:16]}"')

    @property
    def version(self) -> str:
        return self.etag.strip('"')

    def response(self, request: HttpRequest, cache_control: str) -> HttpResponse:
        if self.etag in request.headers.get("If-None-Match", ""):
            response = HttpResponse(status=304)
        else:
            response = HttpResponse(self.body, content_type=self.content_type)
        response["ETag"] = self.etag
        response["Cache-Control"] = cache_control
        response["X-Content-Type-Options"] = "nosniff"
        return response


@functools.cache
def asset(name: str) -> StaticFile:
    return StaticFile.of((FOLDER / name).read_bytes(), CONTENT_TYPES[name])


@functools.cache
def page() -> StaticFile:
    html = (FOLDER / "index.html").read_text(encoding="utf-8")
    for name in ASSETS:
        html = html.replace(f'"/demo/{name}"', f'"/demo/{name}?v={asset(name).version}"')
    return StaticFile.of(html.encode(), CONTENT_TYPES["index.html"])


@functools.cache
def content_security_policy() -> str:
    images = ["'self'", "data:", "blob:"]
    # Result and preview links are absolute, on ATELIER_PUBLIC_URL when that is set.
    public = urlsplit(services.config().public_url or "")
    if public.scheme and public.netloc:
        images.append(f"{public.scheme}://{public.netloc}")
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src {' '.join(images)}",
            # 'self' covers ws: and wss: to this host too.
            "connect-src 'self'",
            "form-action 'self'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
        ]
    )


@require_safe
async def index(request: HttpRequest) -> HttpResponse:
    """The demo page; revalidated on every load."""
    response = page().response(request, "no-cache")
    response["Content-Security-Policy"] = content_security_policy()
    response["Referrer-Policy"] = "same-origin"
    return response


@require_safe
async def static(request: HttpRequest, name: str) -> HttpResponse:
    """A script or stylesheet of the page: cached for good when asked for by the
    version the page names, else revalidated."""
    if name not in ASSETS:
        return HttpResponse("not found\n", status=404, content_type="text/plain")
    file = asset(name)
    versioned = request.GET.get("v") == file.version
    return file.response(request, CACHE_FOREVER if versioned else "no-cache")


urlpatterns = [
    path("", index),
    path("demo/<str:name>", static),
]
