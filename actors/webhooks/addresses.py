"""Which URLs a webhook may call: SSRF protection at submit and again at delivery.

By default only `https` URLs whose host resolves to public addresses only; the
allow list (host names, IPs or CIDRs) admits others, `http` included.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


class UnsafeWebhook(ValueError):
    """The URL may not be called; the message says why, in words for the submitter."""


@dataclass(frozen=True, slots=True)
class Target:
    """A checked URL: where to connect (`address`, one of the checked ones) and what
    to ask for."""

    url: SplitResult
    host: str
    port: int
    address: str

    @property
    def path(self) -> str:
        return (self.url.path or "/") + (f"?{self.url.query}" if self.url.query else "")


class AllowList:
    def __init__(self, entries: Iterable[str] = ()) -> None:
        self._hosts: set[str] = set()
        self._networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network] = []
        for entry in (e.strip() for e in entries):
            if not entry:
                continue
            try:
                self._networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                self._hosts.add(entry.lower().rstrip("."))

    def admits_host(self, host: str) -> bool:
        return host.lower().rstrip(".") in self._hosts

    def admits_address(self, address: IPAddress) -> bool:
        return any(address in network for network in self._networks)


def is_public(address: IPAddress) -> bool:
    return not (
        address.is_private
        or address.is_loopback
        or address.is_link_local
        or address.is_multicast
        or address.is_reserved
        or address.is_unspecified
    )


def resolve(host: str, port: int) -> list[IPAddress]:
    try:
        return [ipaddress.ip_address(host)]  # a literal needs no lookup
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as error:
        raise UnsafeWebhook(f"the host {host!r} does not resolve") from error
    return [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]


def check(url: str, allow: AllowList, *, max_chars: int = 2048) -> Target:
    """The URL's target, or `UnsafeWebhook`. Resolves the host (blocking)."""
    if len(url) > max_chars:
        raise UnsafeWebhook(f"the URL is longer than {max_chars} characters")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise UnsafeWebhook("not a valid URL") from error
    host = parts.hostname or ""
    if parts.scheme not in ("https", "http") or not host:
        raise UnsafeWebhook("the URL must be https://host/...")
    if parts.username or parts.password:
        raise UnsafeWebhook("the URL may not carry credentials")
    port = port or (443 if parts.scheme == "https" else 80)
    addresses = resolve(host, port)
    if not addresses:
        raise UnsafeWebhook(f"the host {host!r} does not resolve")
    admitted = allow.admits_host(host) or all(allow.admits_address(a) for a in addresses)
    if not admitted:
        if parts.scheme != "https":
            raise UnsafeWebhook("the URL must use https")
        if not all(is_public(a) for a in addresses):
            raise UnsafeWebhook(f"the host {host!r} resolves to a non-public address")
    return Target(parts, host, port, str(addresses[0]))
