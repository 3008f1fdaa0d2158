"""One way to reach Redis from a URL, for the queues, the task store and the channel layer.

    redis://[[user]:password@]host:port/db      plain TCP
    rediss://[[user]:password@]host:port/db     TLS (redis-py's URL options apply:
                                                 ?ssl_cert_reqs=required&ssl_ca_certs=...)
    redis+sentinel://[[user]:password@]host:port[,host:port...]/master[/db]
    rediss+sentinel://...                       the same, TLS to sentinels and master
                                                 (?sentinel_password=... if they have one)

With Sentinel every client asks the sentinels for the current master and follows a
failover by itself, so a highly available Redis needs no code change: only REDIS_URL.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import redis
import redis.asyncio
from redis.asyncio.sentinel import Sentinel as AsyncSentinel
from redis.sentinel import Sentinel

SENTINEL_SCHEMES = {"redis+sentinel": False, "rediss+sentinel": True}


@dataclass(frozen=True, slots=True)
class RedisTarget:
    url: str
    # Set for Sentinel URLs only.
    sentinels: tuple[tuple[str, int], ...] = ()
    master: str = ""
    db: int = 0
    username: str | None = None
    password: str | None = None
    sentinel_password: str | None = None
    tls: bool = False
    options: dict[str, str] = field(default_factory=dict)

    @property
    def uses_sentinel(self) -> bool:
        return bool(self.sentinels)

    @classmethod
    def parse(cls, url: str) -> RedisTarget:
        parts = urlsplit(url)
        if parts.scheme in ("redis", "rediss", "unix"):
            return cls(url=url, tls=parts.scheme == "rediss")
        if parts.scheme not in SENTINEL_SCHEMES:
            raise ValueError(
                f"unsupported Redis URL scheme {parts.scheme!r}: use redis://, rediss://, "
                "redis+sentinel:// or rediss+sentinel://"
            )
        userinfo, _, hosts = parts.netloc.rpartition("@")
        username, _, password = userinfo.partition(":") if userinfo else ("", "", "")
        sentinels = tuple(_host_port(item) for item in hosts.split(",") if item)
        path = [segment for segment in parts.path.split("/") if segment]
        if not sentinels or not path:
            raise ValueError(f"a Sentinel URL names sentinels and a master: {url!r}")
        query = {name: values[-1] for name, values in parse_qs(parts.query).items()}
        return cls(
            url=url,
            sentinels=sentinels,
            master=unquote(path[0]),
            db=int(path[1]) if len(path) > 1 else 0,
            username=unquote(username) or None,
            password=unquote(password) or None,
            sentinel_password=query.pop("sentinel_password", None),
            tls=SENTINEL_SCHEMES[parts.scheme],
            options=query,
        )

    def client(self, **options: Any) -> redis.Redis:
        """A synchronous client; `options` are redis-py connection options."""
        if not self.uses_sentinel:
            return redis.Redis.from_url(self.url, **options)
        sentinel = Sentinel(list(self.sentinels), sentinel_kwargs=self._sentinel_kwargs())
        return sentinel.master_for(self.master, **self._master_kwargs(), **options)

    def async_client(self, **options: Any) -> redis.asyncio.Redis:
        """An asyncio client; `options` are redis-py connection options."""
        if not self.uses_sentinel:
            return redis.asyncio.Redis.from_url(self.url, **options)
        sentinel = AsyncSentinel(list(self.sentinels), sentinel_kwargs=self._sentinel_kwargs())
        return sentinel.master_for(self.master, **self._master_kwargs(), **options)

    def channel_layer_host(self, **options: Any) -> dict[str, Any]:
        """A `hosts` entry for channels_redis (its pub/sub layer takes either form)."""
        if not self.uses_sentinel:
            return {"address": self.url, **options}
        return {
            "master_name": self.master,
            "sentinels": list(self.sentinels),
            "sentinel_kwargs": self._sentinel_kwargs(),
            **self._master_kwargs(),
            **options,
        }

    def _sentinel_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"ssl": True} if self.tls else {}
        if self.sentinel_password:
            kwargs["password"] = self.sentinel_password
        return kwargs

    def _master_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = {"db": self.db, **self.options}
        if self.tls:
            kwargs["ssl"] = True
        if self.username:
            kwargs["username"] = self.username
        if self.password:
            kwargs["password"] = self.password
        return kwargs


def _host_port(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    if not host:
        return text, 26379
    return host.strip("[]"), int(port)
