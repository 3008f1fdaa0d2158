"""The ASGI application daphne serves: GraphQL over HTTP and websockets, plus Django views.

In front of the consumers sit the transport guards: `BodyLimit` on every HTTP
request (413 over `ATELIER_MAX_BODY_BYTES`), `OriginGuard` on GraphQL over HTTP
and websockets (403 for browser origins not in `ATELIER_ALLOWED_ORIGINS`); the
websocket consumer itself applies `project.wslimits`.

Under daphne, shutting down (SIGTERM, SIGINT) first closes every GraphQL
websocket with 1001 (Going Away) and waits for the close handshakes, so clients
reconnect to another node and subscribe again; from then on /readyz answers 503.
"""

import asyncio
import logging
import os
import sys
from typing import Any

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

from channels.routing import ProtocolTypeRouter, URLRouter
from django.core.asgi import get_asgi_application
from django.urls import re_path

django_application = get_asgi_application()

from project import services  # noqa: E402
from project.bodylimit import BodyLimit  # noqa: E402
from project.consumers import (  # noqa: E402
    HTTPConsumer,
    WSConsumer,
    close_all_going_away,
    wait_closed,
)
from project.origins import OriginGuard, OriginPolicy  # noqa: E402
from project.wslimits import WebsocketLimits  # noqa: E402

services.announce()
config = services.config()
schema = services.schema()
origins = OriginPolicy(config.allowed_origins)
_ide = "graphiql" if config.debug else None

application = ProtocolTypeRouter(
    {
        "http": BodyLimit(
            URLRouter(
                [
                    re_path(
                        r"^graphql/?$",
                        OriginGuard(HTTPConsumer.as_asgi(schema=schema, graphql_ide=_ide), origins),
                    ),
                    re_path(r"", django_application),
                ]
            ),
            max_bytes=config.max_body_bytes,
        ),
        "websocket": OriginGuard(
            URLRouter(
                [
                    re_path(
                        r"^graphql/?$",
                        WSConsumer.as_asgi(
                            schema=schema, limits=WebsocketLimits.from_config(config)
                        ),
                    )
                ]
            ),
            origins,
        ),
    }
)


def _close_websockets_before_shutdown() -> None:
    """Register, with daphne's Twisted reactor, closing the websockets with 1001.

    Daphne's own "before shutdown" trigger (registered later, when it starts)
    cancels every application at once; this one runs first and sends the close
    frames, and the reactor goes on to stop only once the returned Deferred fires,
    so the frames go out. Outside daphne (no reactor installed) nothing is done:
    importing the reactor here would install Twisted's default one.
    """
    reactor: Any = sys.modules.get("twisted.internet.reactor")
    if reactor is None:
        return
    from twisted.internet.defer import Deferred

    logger = logging.getLogger("atelier.transport")

    def going_away() -> Deferred[None]:
        services.begin_shutdown()
        closing = close_all_going_away()
        logger.info("shutting down: closing %d websocket(s) with 1001 (going away)", len(closing))
        return Deferred.fromFuture(
            asyncio.ensure_future(wait_closed(closing, timeout=SHUTDOWN_CLOSE_TIMEOUT))
        )

    reactor.addSystemEventTrigger("before", "shutdown", going_away)


SHUTDOWN_CLOSE_TIMEOUT = 2.0  # seconds to wait for clients to answer the close
_close_websockets_before_shutdown()
