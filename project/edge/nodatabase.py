"""Consumers that skip Channels' database housekeeping where there is no database.

Channels closes stale Django database connections before a consumer handles each
message (`AsyncConsumer.dispatch`: every HTTP request, every websocket frame), by a
hop to Django's sync thread and back each time. Atelier configures no database
(`DATABASES = {}`), so that hop closes nothing and only delays the request: here it
is made only while a database is configured.
"""

from __future__ import annotations

from channels.consumer import AsyncConsumer, get_handler_name
from channels.db import aclose_old_connections
from django.conf import settings
from strawberry.channels.handlers.base import ChannelsMessage


class WithoutDatabase(AsyncConsumer):  # type: ignore[misc]
    """Put after the framework's consumer classes among the bases, so that it stands
    in for `AsyncConsumer.dispatch` (theirs call it through `super()`)."""

    async def dispatch(self, message: ChannelsMessage) -> None:
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        if settings.DATABASES:
            await aclose_old_connections()
        await handler(message)
