"""The address guard: a webhook may only reach public internet addresses, unless the
operator allows a host name or network (``REPLYD_WEBHOOK_ALLOW``, for development and tests).

The guard resolves the name itself and hands back the address to connect to, so the
address checked is the address used: DNS cannot answer differently a moment later."""

import asyncio
import functools
import ipaddress
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


class BlockedAddress(Exception):
    """The webhook's host is, or resolves to, an address replyd may not call."""


CARRYING_IPV4_LAST = (
    ipaddress.IPv6Network("64:ff9b::/96"),  # NAT64, well-known prefix (RFC 6052)
    ipaddress.IPv6Network("::/96"),  # IPv4-compatible, deprecated (RFC 4291)
    ipaddress.IPv6Network("::ffff:0:0:0/96"),  # IPv4-translated, SIIT (RFC 2765)
)
"""Networks whose addresses end in an IPv4 address that a translator or tunnel would deliver to."""

LOCAL_NAT64 = ipaddress.IPv6Network("64:ff9b:1::/48")
"""Local-use NAT64 (RFC 8215): the operator's own translator, into the operator's own IPv4
networks, with the IPv4 address at a place that depends on the prefix length chosen."""


def is_public(address: IPAddress) -> bool:
    """Loopback, private, link-local, shared, multicast, reserved and unspecified addresses
    are not public, nor is local-use NAT64. An IPv6 address that carries an IPv4 one (mapped,
    NAT64, IPv4-compatible, SIIT, 6to4) is judged by the IPv4 address inside it, which is
    where a gateway would deliver it."""
    if isinstance(address, ipaddress.IPv6Address):
        if address in LOCAL_NAT64:
            return False
        inner = _embedded_ipv4(address)
        if inner is not None:
            return is_public(inner)
    return address.is_global and not address.is_multicast


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if any(address in network for network in CARRYING_IPV4_LAST):
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return address.ipv4_mapped or address.sixtofour


async def system_lookup(host: str, port: int) -> list[str]:
    try:
        literal = ipaddress.ip_address(host.strip("[]"))
        return [str(literal)]
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise BlockedAddress(f"cannot resolve {host}: {exc.strerror}") from None
    return list(dict.fromkeys(str(info[4][0]).split("%")[0] for info in infos))


@dataclass(frozen=True)
class AddressGuard:
    allowed_hosts: frozenset[str] = frozenset()
    allowed_networks: tuple[Network, ...] = ()
    lookup: Callable[[str, int], Awaitable[list[str]]] = system_lookup
    """Name resolution; tests pass their own to play DNS."""

    @classmethod
    def from_setting(cls, allow: str) -> "AddressGuard":
        """``"localhost, 127.0.0.0/8, hooks.internal"`` -> a guard allowing those."""
        hosts, networks = set(), []
        for item in filter(None, (part.strip() for part in allow.split(","))):
            try:
                networks.append(ipaddress.ip_network(item, strict=False))
            except ValueError:
                hosts.add(item.lower())
        return cls(frozenset(hosts), tuple(networks))

    def is_allowed(self, address: str) -> bool:
        return _is_allowed(address, self.allowed_networks)

    async def resolve(self, host: str, port: int) -> str:
        """The address to connect to for ``host``; raises BlockedAddress if none may be used."""
        addresses = [host] if is_address(host) else await self.lookup(host, port)
        if not addresses:
            raise BlockedAddress(f"{host} has no address")
        if host.lower() not in self.allowed_hosts:
            for text in addresses:  # every address, or DNS could pick the bad one on the next lookup
                if not self.is_allowed(text):
                    raise BlockedAddress(f"{host} resolves to {text}, which webhooks may not reach")
        return addresses[0]


@functools.lru_cache(maxsize=4096)
def _is_allowed(address: str, allowed_networks: tuple[Network, ...]) -> bool:
    """Kept: an address's verdict never changes, and every call to an address (an endpoint's
    URL often is one) asks again: parsing and the networks' checks were 7.6% of the event
    delivery loop's time (docs/performance.md)."""
    parsed = ipaddress.ip_address(address)
    return is_public(parsed) or any(parsed in network for network in allowed_networks)


@functools.lru_cache(maxsize=4096)
def is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True
