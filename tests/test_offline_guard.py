import socket

import pytest

from tests.conftest import NetworkAccessError


def test_connecting_beyond_loopback_fails_the_test() -> None:
    with pytest.raises(NetworkAccessError), socket.create_connection(("huggingface.co", 443)):
        pass


def test_loopback_stays_reachable() -> None:
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        with socket.create_connection(server.getsockname(), timeout=2):
            pass
