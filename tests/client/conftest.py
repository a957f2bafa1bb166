"""Fixtures: the client, sync or async, against any base URL. Every test runs twice: once with
``AsyncReplydClient``, once with ``ReplydClient`` behind an awaitable facade, so one test body
covers both. Sleeps between retries are recorded, not slept."""

from collections.abc import AsyncIterator, Callable
from typing import Any, cast

import pytest

from replyd.client import AsyncReplydClient, ReplydClient
from tests.conftest import Tenant

Connect = Callable[..., AsyncReplydClient]
"""``connect(base_url, token, **client_options)``: a client whose sleeps land in ``sleeps``."""


class AwaitableSync:
    """``ReplydClient`` with the async client's face: each method is awaited, and
    ``iter_conversations`` is an async iterator. It calls the sync client directly; the
    servers run in their own threads, so blocking this loop for a call is harmless."""

    def __init__(self, client: ReplydClient) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Callable[..., Any]:
        method = getattr(self._client, name)
        if name == "iter_conversations":

            async def iterate(**filters: Any) -> AsyncIterator[Any]:
                for item in method(**filters):
                    yield item

            return iterate

        async def call(*args: Any, **kwargs: Any) -> Any:
            return method(*args, **kwargs)

        return call


@pytest.fixture
def sleeps() -> list[float]:
    """The waits the client asked for between attempts, in order."""
    return []


@pytest.fixture(params=["async", "sync"])
async def connect(request: pytest.FixtureRequest, sleeps: list[float]) -> AsyncIterator[Connect]:
    opened: list[ReplydClient | AsyncReplydClient] = []

    async def record(delay_s: float) -> None:
        sleeps.append(delay_s)

    def make(base_url: str, token: str, **options: Any) -> AsyncReplydClient:
        if request.param == "async":
            client = AsyncReplydClient(base_url, token, sleep=record, **options)
            opened.append(client)
            return client
        sync = ReplydClient(base_url, token, sleep=sleeps.append, **options)
        opened.append(sync)
        return cast(AsyncReplydClient, AwaitableSync(sync))

    yield make
    for client in opened:
        if isinstance(client, AsyncReplydClient):
            await client.aclose()
        else:
            client.close()


@pytest.fixture
def client(connect: Connect, tenant: Tenant, server: str) -> AsyncReplydClient:
    """The tenant's admin token against the shared live server."""
    return connect(server, tenant.token)
