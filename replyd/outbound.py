"""Every HTTP call replyd makes by itself to an address a user gave it (a function's webhook,
an event endpoint): resolved through the address guard and sent to the address it approved,
never to another a second lookup might give; no redirects; the answer streamed, so the
caller can cap what it reads."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx

from replyd.functions.ssrf import AddressGuard


class Outbound:
    def __init__(self, client: httpx.AsyncClient, guard: AddressGuard) -> None:
        self._client = client
        self._guard = guard

    @asynccontextmanager
    async def send(
        self, method: str, url: str, body: bytes, headers: dict[str, str], timeout_s: float
    ) -> AsyncIterator[httpx.Response]:
        """The answer, open for reading until the block ends. Raises ``BlockedAddress`` for an
        address webhooks may not reach, and httpx's errors for the rest."""
        target = httpx.URL(url)
        address = await self._guard.resolve(target.host, target.port or (443 if target.scheme == "https" else 80))
        request = self._client.build_request(
            method,
            target.copy_with(host=address),
            content=body,
            headers={**headers, "Host": target.netloc.decode()},
            timeout=timeout_s,
            extensions={"sni_hostname": target.host},
        )
        response = await self._client.send(request, stream=True, follow_redirects=False)
        try:
            yield response
        finally:
            await response.aclose()
