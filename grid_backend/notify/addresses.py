"""Where a webhook subscriber may point: checked when it is saved, again before each request,
since a name may resolve elsewhere later, and a last time when the request connects: webhook
connections go to the addresses checked there (`connect_addresses`, used by notify/network's
PublicOnly), so a name that changes its answer between the check and the connection (DNS
rebinding) reaches nothing private."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from urllib.parse import urlsplit

from grid_backend.core.i18n import N_
from grid_backend.settings import get_settings


def url_problem(url: str) -> str | None:
    """Why this URL cannot be a subscriber's (its form only), or None."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  # raises ValueError for a port out of range
    except ValueError:
        return N_("the webhook URL is not a URL")
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return N_("the webhook URL must be an http:// or https:// URL")
    if parts.username or parts.password:
        return N_("the webhook URL must not carry a user name or password")
    if len(url) > 1000:
        return N_("the webhook URL must be at most 1000 characters")
    return None


# IPv6 prefixes that carry an IPv4 address in their last 32 bits, which a translator or the
# host may reach: NAT64 (RFC 6052) and the deprecated IPv4-compatible form
_CARRY_IPV4 = (ipaddress.ip_network("64:ff9b::/96"), ipaddress.ip_network("::/96"))


def _private(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address):
        inner = ip.ipv4_mapped or ip.sixtofour or (ip.teredo[1] if ip.teredo else None)
        if inner is None and any(ip in net for net in _CARRY_IPV4):
            inner = ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
        if inner is not None and _private(str(inner)):
            return True
        if ip.ipv4_mapped:
            ip = ip.ipv4_mapped
    return not ip.is_global or ip.is_multicast


_resolved: dict[str, tuple[float, list[str]]] = {}  # host -> (until, addresses)
RESOLVE_TTL = 60.0


async def _addresses(host: str) -> list[str]:
    try:
        return [str(ipaddress.ip_address(host.strip("[]")))]
    except ValueError:
        pass
    cached = _resolved.get(host)
    if cached and cached[0] > time.monotonic():
        return cached[1]
    infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    # in the resolver's order (RFC 6724's preference): the connection tries them in turn
    found = list(dict.fromkeys(str(info[4][0]) for info in infos))
    if len(_resolved) > 1000:
        _resolved.clear()
    _resolved[host] = (time.monotonic() + RESOLVE_TTL, found)
    return found


async def address_problem(url: str) -> str | None:
    """Why a request to this URL is refused here: a host that does not resolve, or one that
    resolves to a private, loopback or link-local address (unless
    GRID_WEBHOOK_ALLOW_PRIVATE), so a subscriber cannot reach into the server's network."""
    host = urlsplit(url).hostname or ""
    try:
        addresses = await _addresses(host)
    except (OSError, UnicodeError):
        return N_("the webhook URL's host name does not resolve")
    if not addresses:
        return N_("the webhook URL's host name does not resolve")
    if get_settings().webhook_allow_private:
        return None
    if any(_private(a) for a in addresses):
        return N_("the webhook URL points at a private, loopback or link-local address")
    return None


async def connect_addresses(host: str) -> list[str]:
    """The addresses a webhook request to `host` may connect to, checked as address_problem
    checks them; raises OSError when it does not resolve or resolves to a refused address."""
    try:
        found = await _addresses(host)
    except UnicodeError as exc:
        raise OSError(f"{host}: the host name does not resolve") from exc
    if not found:
        raise OSError(f"{host}: the host name does not resolve")
    if not get_settings().webhook_allow_private and any(_private(a) for a in found):
        raise OSError(f"refused: {host} resolves to a private, loopback or link-local address")
    return found
