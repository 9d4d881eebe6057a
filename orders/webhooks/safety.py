"""Where a webhook may go: http(s) URLs whose host resolves only to public addresses.

Checked twice: when an endpoint is registered (a clear 422) and at every connection, where the
name is resolved once, every address is checked, and the connection goes to that checked
address (never re-resolved: no DNS rebinding), then the socket's peer is checked again. The
Host header and TLS SNI still carry the name. Redirects are never followed (httpx's default,
kept) and proxies from the environment are ignored, so nothing reaches an address unchecked.
ORDERS_WEBHOOK_ALLOW_PRIVATE_TARGETS turns the address checks off (local testing only).
"""

from __future__ import annotations

import ipaddress
import socket
import ssl
from typing import Any
from urllib.parse import urlsplit

import anyio
import certifi
import httpcore
import httpx

SHARED = ipaddress.ip_network("100.64.0.0/10")  # carrier-grade NAT: not public, not "private"
NAT64 = ipaddress.ip_network("64:ff9b::/96")


class RefusedAddress(httpcore.ConnectError):
    """The destination resolves to an address webhooks may not reach."""


def destination_of(url: str) -> str:
    """host:port of an http(s) URL; ValueError with a readable reason for anything else."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError("url must start with http:// or https://")
    if parts.username is not None or parts.password is not None:
        raise ValueError("url must not contain a user name or password")
    if not parts.hostname:
        raise ValueError("url must name a host")
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        raise ValueError("url has an invalid port") from None
    if parts.fragment:
        raise ValueError("url must not contain a fragment")
    return f"{parts.hostname.lower()}:{port}"


def refusal(ip: str) -> str | None:
    """Why this address is not a public one (None: it is)."""
    address = ipaddress.ip_address(ip.split("%", 1)[0])
    if address.version == 6:
        embedded = address.ipv4_mapped or address.sixtofour
        if embedded is None and address in NAT64:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if embedded is not None:
            reason = refusal(str(embedded))
            return f"{reason} (IPv6-embedded {embedded})" if reason else None
    checks = [
        ("loopback", address.is_loopback),
        ("link-local", address.is_link_local),
        ("unspecified", address.is_unspecified),
        ("shared (100.64.0.0/10)", address.version == 4 and address in SHARED),
        ("private", address.is_private),
        ("multicast", address.is_multicast),
        ("reserved", address.is_reserved),
        ("not globally routable", not address.is_global),
    ]
    return next((f"{ip} is {name}" for name, hit in checks if hit), None)


def check_addresses(host: str, addresses: list[str]) -> None:
    for ip in addresses:
        if reason := refusal(ip):
            raise RefusedAddress(f"refused destination {host}: {reason}")


def resolve_now(url: str) -> list[str]:
    """The addresses the URL's host resolves to (blocking; for registration)."""
    parts = urlsplit(url)
    infos = socket.getaddrinfo(parts.hostname, parts.port or 443, type=socket.SOCK_STREAM)
    return sorted({info[4][0] for info in infos})


class GuardedBackend(httpcore.AsyncNetworkBackend):
    """Resolve once, check every address, connect to the checked one, check the peer."""

    def __init__(self, allow_private: bool):
        self.allow_private, self.inner = allow_private, httpcore.AnyIOBackend()

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Any = None,
    ) -> httpcore.AsyncNetworkStream:
        with anyio.fail_after(timeout):
            infos = await anyio.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        if not self.allow_private:
            check_addresses(host, addresses)
        stream = await self.inner.connect_tcp(
            addresses[0], port, timeout, local_address, socket_options
        )
        peer = stream.get_extra_info("server_addr")
        if not self.allow_private and (peer is None or refusal(str(peer[0]))):
            await stream.aclose()
            raise RefusedAddress(f"refused destination {host}: connected to {peer}")
        return stream

    async def sleep(self, seconds: float) -> None:
        await self.inner.sleep(seconds)


class GuardedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport with the guarded backend; proxies from the environment are ignored."""

    def __init__(self, allow_private: bool, max_connections: int):
        super().__init__(trust_env=False)
        # httpx takes no network backend, so its pool is replaced by one that uses ours.
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=ssl.create_default_context(cafile=certifi.where()),
            max_connections=max_connections,
            max_keepalive_connections=max_connections,
            keepalive_expiry=5.0,
            network_backend=GuardedBackend(allow_private),
        )
