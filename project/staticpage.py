"""A page the web node serves from a folder of its own (the demo page, the ops page):
`index.html` and its scripts and stylesheets, under one strict Content-Security-Policy.

The page names its assets with a digest of their content (`?v=`): a versioned asset is
cached for a year, while the page is revalidated on every load (ETag), so a deploy
shows at once. Files are read once per process.
"""

from __future__ import annotations

import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from django.http import HttpRequest, HttpResponse
from django.urls import URLPattern, path
from django.views.decorators.http import require_safe

from project import services

CACHE_FOREVER = "public, max-age=31536000, immutable"
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
}


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


class StaticPage:
    """The page in `folder`, at `route`, its assets (`names`) at `/<prefix>/<name>`; with
    no route, the assets alone (scripts that pages share)."""

    def __init__(
        self, folder: Path, route: str | None, prefix: str, names: tuple[str, ...]
    ) -> None:
        self.folder = folder
        self.route = route
        self.prefix = prefix
        self.names = names
        self.asset = functools.cache(self._asset)
        self.page = functools.cache(self._page)

    def _asset(self, name: str) -> StaticFile:
        body = (self.folder / name).read_bytes()
        return StaticFile.of(body, CONTENT_TYPES[Path(name).suffix])

    def _page(self) -> StaticFile:
        html = (self.folder / "index.html").read_text(encoding="utf-8")
        for name in self.names:
            versioned = f'"/{self.prefix}/{name}?v={self.asset(name).version}"'
            html = html.replace(f'"/{self.prefix}/{name}"', versioned)
        return StaticFile.of(html.encode(), CONTENT_TYPES[".html"])

    def urlpatterns(self) -> list[URLPattern]:
        @require_safe
        async def index(request: HttpRequest) -> HttpResponse:
            """The page; revalidated on every load."""
            response = self.page().response(request, "no-cache")
            response["Content-Security-Policy"] = content_security_policy()
            response["Referrer-Policy"] = "same-origin"
            return response

        @require_safe
        async def static(request: HttpRequest, name: str) -> HttpResponse:
            """A script or stylesheet of the page: cached for good when asked for by the
            version the page names, else revalidated."""
            if name not in self.names:
                return HttpResponse("not found\n", status=404, content_type="text/plain")
            file = self.asset(name)
            versioned = request.GET.get("v") == file.version
            return file.response(request, CACHE_FOREVER if versioned else "no-cache")

        assets = [path(f"{self.prefix}/<str:name>", static)]
        return assets if self.route is None else [path(self.route, index), *assets]
