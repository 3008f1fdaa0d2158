"""A local webhook receiver for tests: answers each POST with the next status of a
script (then 200), and keeps what it received."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    status: int  # what it was answered; 0: held, never answered
    at: float  # time.time() when it arrived


@dataclass
class Receiver:
    url: str
    script: list[int]
    received: list[Received] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)
    holding: threading.Event | None = None
    released: threading.Event | None = None

    def hold_first(self) -> threading.Event:
        """Keep the next request waiting for `release`; the event is set when it arrives."""
        self.holding = threading.Event()
        self.released = threading.Event()
        return self.holding

    def release(self) -> None:
        self.released.set()

    def wait_for_answered(self, types: set[str], secret: str, timeout: float) -> list[Received]:
        """Until each event type in `types` had a 2xx answer; what was received by then."""
        from standardwebhooks import Webhook

        def answered() -> bool:
            done = {
                Webhook(secret).verify(r.body, r.headers)["type"]
                for r in self.received
                if 200 <= r.status < 300
            }
            return types <= done

        with self.arrived:
            self.arrived.wait_for(answered, timeout)
            return list(self.received)

    def wait_for(self, count: int, timeout: float) -> list[Received]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.received) >= count, timeout)
            return list(self.received)


@contextmanager
def receiving(script: list[int] | None = None) -> Iterator[Receiver]:
    receiver = Receiver(url="", script=list(script or []))

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("content-length", "0")))
            holding, released = receiver.holding, receiver.released
            hold = holding is not None and released is not None and not holding.is_set()
            with receiver.arrived:
                status = 0 if hold else receiver.script.pop(0) if receiver.script else 200
                headers = {name.lower(): value for name, value in self.headers.items()}
                receiver.received.append(Received(headers, body, status, time.time()))
                receiver.arrived.notify_all()
            if hold and holding is not None and released is not None:
                holding.set()
                released.wait(60)
                self.close_connection = True
                return  # whoever sent it is gone: no answer
            self.send_response(status)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    receiver.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/atelier"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()
