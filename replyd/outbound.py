"""Every HTTP call replyd makes by itself to an address a user gave it (a function's webhook,
an event endpoint). The address guard is the client's resolver, so a connection opens only
to the address the guard approved, never to another a second lookup might give; no
redirects, no proxy from the environment, no cookies kept; at most ``read_limit`` bytes of
an answer read. aiohttp sends: a call costs a quarter of httpx's CPU, and events make many."""

import asyncio
import socket
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from yarl import URL

from replyd.clock import utcnow
from replyd.functions.ssrf import AddressGuard, is_address

MAX_CONNECTIONS = 200


class SendFailed(Exception):
    """No answer: no connection could be made, or it broke before the answer came."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    """Its first ``read_limit`` bytes at most."""
    retry_after_s: float | None = None
    """How long the receiver asked to be left alone (``Retry-After``), if it said."""

    @property
    def is_success(self) -> bool:
        return 200 <= self.status < 300


class GuardedResolver(AbstractResolver):
    """Name resolution through the address guard: the one address it approves."""

    def __init__(self, guard: AddressGuard) -> None:
        self._guard = guard

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        address = await self._guard.resolve(host, port)
        return [
            {
                "hostname": host,
                "host": address,
                "port": port,
                "family": socket.AF_INET6 if ":" in address else socket.AF_INET,
                "proto": 0,
                "flags": socket.AI_NUMERICHOST,
            }
        ]

    async def close(self) -> None:
        pass


class Outbound:
    def __init__(self, guard: AddressGuard) -> None:
        self._guard = guard
        self._session: aiohttp.ClientSession | None = None
        """Made on first use, in the event loop that serves."""

    async def send(
        self, method: str, url: str, body: bytes, headers: dict[str, str], timeout_s: float, read_limit: int
    ) -> Answer:
        """The answer, read within ``timeout_s`` as a whole. Raises ``BlockedAddress`` for an
        address calls may not reach, ``TimeoutError`` and ``SendFailed``."""
        target = URL(url)
        if is_address(target.host or ""):  # aiohttp asks no resolver for an address: the guard is asked here
            await self._guard.resolve(target.host or "", target.port or 0)
        async with asyncio.timeout(timeout_s):
            try:
                async with self._client().request(
                    method, target, data=body, headers=headers, allow_redirects=False
                ) as response:
                    body = await _read(response.content, read_limit)
                    return Answer(response.status, body, retry_after_s(response.headers.get("Retry-After")))
            except aiohttp.ClientError as exc:
                raise SendFailed(type(exc).__name__) from exc

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    resolver=GuardedResolver(self._guard), use_dns_cache=False, limit=MAX_CONNECTIONS
                ),
                cookie_jar=aiohttp.DummyCookieJar(),
                timeout=aiohttp.ClientTimeout(total=None),  # asyncio.timeout bounds the whole call
            )
        return self._session

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()


def retry_after_s(value: str | None) -> float | None:
    """A ``Retry-After`` header's wait in seconds: either form HTTP allows (seconds, or a date)."""
    if not value:
        return None
    if value.strip().isdigit():
        return float(value.strip())
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - utcnow()).total_seconds())


async def _read(content: aiohttp.StreamReader, limit: int) -> bytes:
    data = bytearray()
    while len(data) < limit:
        chunk = await content.read(limit - len(data))
        if not chunk:
            break
        data += chunk
    return bytes(data)
