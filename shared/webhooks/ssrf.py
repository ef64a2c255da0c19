"""The SSRF guard: webhook URLs may only reach public addresses (checked at registration and per send).

A send resolves the host once, checks every address it got, and connects to the first one itself
(the Host header and TLS name stay the URL's), so DNS rebinding between check and connect cannot
steer it inward. Redirects are never followed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
# Not covered by `is_global` checks on every Python: carrier-grade NAT and the cloud metadata hosts.
EXTRA_BLOCKED = [ipaddress.ip_network("100.64.0.0/10"), ipaddress.ip_network("fd00:ec2::/32")]


class UnsafeWebhookUrl(ValueError):
    """The URL is malformed, or resolves to an address webhooks may not reach."""


@dataclass(frozen=True)
class ResolvedTarget:
    """Where to connect (an IP) and what to call the host (Host header, TLS server name)."""

    connect_url: str
    host_header: str
    server_name: str | None
    address: str


def is_forbidden_address(address: IPAddress) -> bool:
    """Loopback, private, link-local (metadata), multicast, reserved or unspecified addresses."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if any(address in network for network in EXTRA_BLOCKED):
        return True
    return not address.is_global or address.is_multicast


def parse_webhook_url(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an http(s) URL without credentials; raises UnsafeWebhookUrl."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as error:
        raise UnsafeWebhookUrl(f"not a valid URL: {error}") from None
    if parts.scheme not in ("http", "https"):
        raise UnsafeWebhookUrl("the URL must start with https:// (or http://)")
    if not parts.hostname:
        raise UnsafeWebhookUrl("the URL has no host")
    if parts.username or parts.password:
        raise UnsafeWebhookUrl("the URL must not carry credentials")
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


async def resolve(host: str, port: int) -> list[IPAddress]:
    """Every address the host resolves to (an IP literal is its own answer)."""
    try:
        return [ipaddress.ip_address(host)]
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as error:
        raise UnsafeWebhookUrl(f"the host {host!r} does not resolve ({error})") from None
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    if not addresses:
        raise UnsafeWebhookUrl(f"the host {host!r} does not resolve")
    return addresses


async def check_webhook_url(url: str, *, allow_private: bool) -> list[IPAddress]:
    """Resolve the URL's host and refuse it if any address is off limits."""
    _, host, port = parse_webhook_url(url)
    addresses = await resolve(host, port)
    if not allow_private:
        forbidden = [str(a) for a in addresses if is_forbidden_address(a)]
        if forbidden:
            raise UnsafeWebhookUrl(
                f"the host {host!r} resolves to {', '.join(forbidden)}: loopback, private, link-local and "
                "metadata addresses are not allowed"
            )
    return addresses


async def resolve_target(url: str, *, allow_private: bool) -> ResolvedTarget:
    """Check the URL once for this send and pin the connection to the checked address."""
    scheme, host, port = parse_webhook_url(url)
    address = (await check_webhook_url(url, allow_private=allow_private))[0]
    parts = urlsplit(url)
    literal = f"[{address}]" if address.version == 6 else str(address)
    default_port = port == (443 if scheme == "https" else 80)
    host_header = host if default_port else f"{host}:{port}"
    if ":" in host and not host.startswith("["):
        host_header = f"[{host}]" if default_port else f"[{host}]:{port}"
    connect_url = urlunsplit((scheme, f"{literal}:{port}", parts.path or "/", parts.query, ""))
    return ResolvedTarget(connect_url, host_header, host if scheme == "https" else None, str(address))
