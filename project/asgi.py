"""The ASGI application daphne serves: GraphQL over HTTP and websockets, plus Django views."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "project.settings")

from channels.routing import ProtocolTypeRouter, URLRouter
from django.core.asgi import get_asgi_application
from django.urls import re_path

django_application = get_asgi_application()

from project import services  # noqa: E402
from project.consumers import HTTPConsumer, WSConsumer  # noqa: E402

services.announce()
schema = services.schema()
_ide = "graphiql" if services.config().debug else None

application = ProtocolTypeRouter(
    {
        "http": URLRouter(
            [
                re_path(r"^graphql/?$", HTTPConsumer.as_asgi(schema=schema, graphql_ide=_ide)),
                re_path(r"", django_application),
            ]
        ),
        "websocket": URLRouter([re_path(r"^graphql/?$", WSConsumer.as_asgi(schema=schema))]),
    }
)
