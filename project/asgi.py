"""The ASGI application daphne serves: GraphQL over HTTP and websockets, plus Django views.

In front of the consumers sit the transport guards: `BodyLimit` on every HTTP
request (413 over `ATELIER_MAX_BODY_BYTES`), `OriginGuard` on GraphQL over HTTP
and websockets (403 for browser origins not in `ATELIER_ALLOWED_ORIGINS`),
`WebsocketCaps` on websockets (`project.edge.connectioncaps`); the websocket consumer
itself applies `project.edge.wslimits`. A request to /graphql that asks for
`text/event-stream` is GraphQL over SSE (`project.edge.sse`), its operations per API
key bounded as a websocket's are (`project.edge.ssestreams`). HTTP connections are
held to a header and an idle timeout (`project.edge.httptimeouts`).

Under daphne, shutting down (SIGTERM, SIGINT) first closes every GraphQL
websocket with 1001 (Going Away) and waits for the close handshakes, so clients
reconnect to another node and subscribe again; from then on /readyz answers 503
(see `project.edge.shutdown`).
"""

import gc
import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

from channels.routing import ProtocolTypeRouter, URLRouter
from django.core.asgi import get_asgi_application
from django.urls import re_path

django_application = get_asgi_application()

from project import services  # noqa: E402
from project.edge import httptimeouts, shutdown  # noqa: E402
from project.edge.bodylimit import BodyLimit  # noqa: E402
from project.edge.connectioncaps import ConnectionCaps, WebsocketCaps  # noqa: E402
from project.edge.consumers import WSConsumer  # noqa: E402
from project.edge.origins import OriginGuard, OriginPolicy  # noqa: E402
from project.edge.sse import EventStreamRoute, SSEConsumer  # noqa: E402
from project.edge.ssestreams import StreamsPerKey  # noqa: E402
from project.edge.wslimits import WebsocketLimits  # noqa: E402
from project.ide import HTTPConsumer  # noqa: E402  (GraphiQL served offline)

services.announce()
config = services.config()
schema = services.schema()
origins = OriginPolicy(config.allowed_origins)
_ide = "graphiql" if config.debug else None
_streams = StreamsPerKey(config.ws_max_subscriptions)

application = ProtocolTypeRouter(
    {
        "http": BodyLimit(
            URLRouter(
                [
                    re_path(
                        r"^graphql/?$",
                        OriginGuard(
                            EventStreamRoute(
                                streams=SSEConsumer.as_asgi(
                                    schema=schema,
                                    streams=_streams,
                                    multipart_uploads_enabled=True,
                                ),
                                requests=HTTPConsumer.as_asgi(
                                    schema=schema,
                                    graphql_ide=_ide,
                                    multipart_uploads_enabled=True,
                                ),
                            ),
                            origins,
                        ),
                    ),
                    re_path(r"", django_application),
                ]
            ),
            max_bytes=config.max_body_bytes,
        ),
        "websocket": WebsocketCaps(
            OriginGuard(
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
            ConnectionCaps(total=config.ws_max_connections, per_client=config.ws_max_per_client),
        ),
    }
)
httptimeouts.install(config.http_header_timeout, config.http_idle_timeout)


shutdown.install_before_shutdown_trigger()

# Everything loaded so far (Django, Strawberry, the schema) lives as long as the
# process: freeze it out of the garbage collector's scans, and collect young objects
# less often. With thousands of websockets held, full collections otherwise took most
# of the event loop's time, with pauses of seconds (bench.fanout measured both).
gc.collect()
gc.freeze()
gc.set_threshold(50_000, 20, 100)
