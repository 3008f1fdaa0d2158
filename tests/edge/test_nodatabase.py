"""Without a database, a consumer handles each message without Channels' hop to close
stale database connections; with one configured, it still closes them first."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
from channels.consumer import AsyncConsumer

from project.edge import nodatabase
from project.edge.consumers import HTTPConsumer, WSConsumer
from project.edge.nodatabase import WithoutDatabase


class _Probe(WithoutDatabase):
    def __init__(self, log: list[str]) -> None:
        super().__init__()
        self.log = log

    async def websocket_receive(self, message: dict[str, Any]) -> None:
        self.log.append(message["text"])


@pytest.fixture
def log(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    log: list[str] = []

    async def close_old_connections() -> None:
        log.append("closed")

    monkeypatch.setattr(nodatabase, "aclose_old_connections", close_old_connections)
    return log


def handle(probe: _Probe, text: str) -> None:
    asyncio.run(probe.dispatch({"type": "websocket.receive", "text": text}))


def test_no_database_no_connections_closed(monkeypatch: pytest.MonkeyPatch, log: list[str]) -> None:
    monkeypatch.setattr(nodatabase, "settings", SimpleNamespace(DATABASES={}))
    handle(_Probe(log), "hello")
    assert log == ["hello"]


def test_with_a_database_its_stale_connections_are_closed_first(
    monkeypatch: pytest.MonkeyPatch, log: list[str]
) -> None:
    monkeypatch.setattr(nodatabase, "settings", SimpleNamespace(DATABASES={"default": {}}))
    handle(_Probe(log), "hello")
    assert log == ["closed", "hello"]


def test_a_message_with_no_handler_is_still_an_error(log: list[str]) -> None:
    with pytest.raises(ValueError, match=r"websocket\.unknown"):
        asyncio.run(_Probe(log).dispatch({"type": "websocket.unknown"}))


@pytest.mark.parametrize("consumer", [HTTPConsumer, WSConsumer])
def test_the_api_consumers_dispatch_through_it(consumer: type) -> None:
    mro = consumer.__mro__
    assert mro.index(WithoutDatabase) == mro.index(AsyncConsumer) - 1
