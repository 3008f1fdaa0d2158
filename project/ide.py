"""GraphiQL at `GET /graphql`, served whole by the web node: no CDN, so it works offline.

Strawberry's own page loads React and GraphiQL from unpkg.com, so without the internet
it stays on "Loading…". This page loads pinned copies from npm packages instead
(`project/graphiql/package.json` and its lock file: `make install` runs `npm ci` and
`vendor.mjs`, which copies the files into `project/graphiql/dist/`), and its own script
(`page.js`), which sends subscriptions over graphql-transport-ws with the Headers tab as
the connection_init payload.

The consumer that answers GraphQL at `/graphql` serves the page and its assets too,
the assets as `/graphql?graphiql=<name>&v=<digest>`: cached for good when asked for by
the version the page names, revalidated (ETag) otherwise, compressed when the browser
takes gzip. The page is held to the demo page's Content-Security-Policy (scripts,
styles and connections from this origin only), with two allowances: GraphiQL's fonts
(data: URLs in its stylesheet), and the <style> elements its dialogs insert, which carry
the nonce of the page's response.
Where GraphiQL is off (`ATELIER_DEBUG=0`), so are its assets: both answer 404.
"""

from __future__ import annotations

import asyncio
import functools
import gzip
import hashlib
import html
import logging
import secrets
from dataclasses import dataclass
from pathlib import Path

from strawberry.channels.handlers.http_handler import ChannelsRequest, ChannelsResponse
from strawberry.http.base import BaseRequestProtocol

from project.edge import consumers
from project.staticpage import CACHE_FOREVER

logger = logging.getLogger(__name__)

FOLDER = Path(__file__).resolve().parent / "graphiql"
# Copied from npm packages by `make install` (git-ignored), and our own, committed.
VENDORED = ("react.js", "react-dom.js", "graphql-ws.js", "graphiql.js", "graphiql.css")
OWN = ("page.js", "page.css")
ASSETS = VENDORED + OWN
PARAMETER = "graphiql"
CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".html": "text/html; charset=utf-8",
}
# Below this, compressing costs more than it saves.
COMPRESS_FROM = 1024
# The pages' policy (project/staticpage.py), with GraphiQL's two allowances.
POLICY = (
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self' 'nonce-{nonce}'",
    "img-src 'self' data:",
    "font-src data:",
    # 'self' covers ws: and wss: to this host too.
    "connect-src 'self'",
    "form-action 'self'",
    "base-uri 'none'",
    "frame-ancestors 'none'",
)


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    content_type: str
    version: str  # of the content

    @classmethod
    def of(cls, body: bytes, content_type: str) -> Asset:
        return cls(body, content_type, hashlib.sha256(body).hexdigest()[:16])


class AssetsMissing(RuntimeError):
    """GraphiQL's files were never copied out of npm: `make install` does it."""


def path(name: str) -> Path:
    return FOLDER / ("dist" if name in VENDORED else "") / name


@functools.cache
def asset(name: str) -> Asset:
    file = path(name)
    try:
        body = file.read_bytes()
    except FileNotFoundError:
        raise AssetsMissing(
            f"{file} is missing: run `make install` (npm ci and vendor.mjs in {FOLDER})"
        ) from None
    return Asset.of(body, CONTENT_TYPES[file.suffix])


@functools.cache
def compressed(name: str) -> bytes:
    return gzip.compress(asset(name).body, compresslevel=6, mtime=0)


@functools.cache
def page() -> str:
    """The page's HTML, naming each asset by version; `CSP_NONCE` stands for the nonce
    each response puts in its place."""
    text = (FOLDER / "index.html").read_text(encoding="utf-8")
    for name in ASSETS:
        url = html.escape(f"?{PARAMETER}={name}&v={asset(name).version}")
        text = text.replace(f'"{name}"', f'"{url}"')
    return text


def content_security_policy(nonce: str) -> str:
    """The pages' policy, and two allowances GraphiQL needs: the <style> elements
    its dialogs and menus insert, with this response's nonce (the bundle reads it from the
    page, see vendor.mjs), and the fonts its stylesheet carries as data: URLs."""
    return "; ".join(POLICY).format(nonce=nonce)


def _page() -> ChannelsResponse:
    """The page, with a nonce of its own: never cached, so a deploy shows at once."""
    nonce = secrets.token_urlsafe(18)
    return ChannelsResponse(
        page().replace("CSP_NONCE", nonce).encode(),
        content_type=CONTENT_TYPES[".html"],
        headers={
            b"Cache-Control": b"no-store",
            b"Content-Security-Policy": content_security_policy(nonce).encode(),
            b"Referrer-Policy": b"same-origin",
            b"X-Content-Type-Options": b"nosniff",
        },
    )


def _asset(request: ChannelsRequest, name: str) -> ChannelsResponse:
    """An asset: cached for good when asked for by the version the page names, else
    revalidated; gzipped for a client that takes it (each encoding its own ETag)."""
    if name not in ASSETS:
        return ChannelsResponse(b"not found\n", status=404, content_type="text/plain")
    file = asset(name)
    gzipped = len(file.body) >= COMPRESS_FROM and "gzip" in request.headers.get(
        "accept-encoding", ""
    )
    etag = f'"{file.version}-gzip"' if gzipped else f'"{file.version}"'
    versioned = request.query_params.get("v") == file.version
    headers = {
        b"ETag": etag.encode(),
        b"Cache-Control": (CACHE_FOREVER if versioned else "no-cache").encode(),
        b"Vary": b"Accept-Encoding",
        b"X-Content-Type-Options": b"nosniff",
    }
    if etag in request.headers.get("if-none-match", ""):
        return ChannelsResponse(b"", status=304, content_type=file.content_type, headers=headers)
    if gzipped:
        headers[b"Content-Encoding"] = b"gzip"
    body = compressed(name) if gzipped else file.body
    return ChannelsResponse(body, content_type=file.content_type, headers=headers)


class HTTPConsumer(consumers.HTTPConsumer):
    """`project.edge.consumers.HTTPConsumer`, with GraphiQL served from this node: where
    strawberry renders its IDE (a browser's `GET /graphql`) this renders the page above,
    and it answers `GET /graphql?graphiql=<asset>` with the asset."""

    def should_render_graphql_ide(self, request: BaseRequestProtocol) -> bool:
        if request.method == "GET" and PARAMETER in request.query_params:
            return True
        return super().should_render_graphql_ide(request)

    async def render_graphql_ide(self, request: ChannelsRequest) -> ChannelsResponse:
        # The first answer reads, hashes and compresses megabytes: off the event loop.
        return await asyncio.to_thread(_answer, request)


def _answer(request: ChannelsRequest) -> ChannelsResponse:
    name = request.query_params.get(PARAMETER)
    try:
        return _page() if name is None else _asset(request, name)
    except AssetsMissing as error:
        logger.error("GraphiQL cannot be served: %s", error)
        return ChannelsResponse(f"{error}\n".encode(), status=503, content_type="text/plain")
