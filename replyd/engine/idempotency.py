"""Idempotency-Key handling: the first request with a key runs; a retry with the same key and
body gets the first answer again (no second model call, message or charge); a retry while
the first still runs waits for it, up to a limit, then gets 409.

The reply engine claims the key (``claim``) around the whole turn and stores the answer in
the turn's last transaction, together with the exchange and the charge."""

import asyncio
import hashlib
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from replyd.errors import IdempotencyKeyReused, RequestInProgress
from replyd.settings import Settings
from replyd.store import idempotency

FIRST_POLL_S, LAST_POLL_S = 0.02, 0.5


@dataclass(frozen=True)
class IdempotencyKey:
    """The client's key and a hash of the request it came with; its answer is stored with the exchange."""

    key: str
    request_sha256: str

    @classmethod
    def of(cls, key: str, route: str, request: dict[str, Any]) -> "IdempotencyKey":
        """Same route and same fields in any key order -> same fingerprint."""
        canonical = json.dumps([route, request], sort_keys=True, separators=(",", ":"))
        return cls(key, hashlib.sha256(canonical.encode()).hexdigest())


@dataclass(frozen=True)
class Claim:
    """What a request may do with its key: run (holding ``key``, which the turn completes with
    its answer) or replay ``answer``, the stored answer of the first request."""

    key: IdempotencyKey | None = None
    answer: dict[str, Any] | None = None


class IdempotencyClaims:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], settings: Settings) -> None:
        self._sessions = sessions
        self._ttl_s = settings.idempotency_ttl_s
        self._wait_s = settings.idempotency_wait_s
        self._lease_s = settings.idempotency_lease_s
        """A running claim not renewed for this long belonged to a process that died. The
        process running it renews it every third of that, however long it waits or thinks."""

    @asynccontextmanager
    async def claim(self, account_id: int, key: IdempotencyKey | None) -> AsyncIterator[Claim]:
        """Hold ``key`` while the request runs; if the request fails, the key is released so
        that a retry runs afresh. No key: the request simply runs."""
        if key is None:
            yield Claim()
            return
        claimed = await self._claim(account_id, key)
        if claimed.state == "replay":
            yield Claim(answer=claimed.response)
            return
        renewing = asyncio.create_task(self._renew(account_id, key))
        try:
            yield Claim(key)
        except BaseException:
            await asyncio.shield(self._release(account_id, key))
            raise
        finally:
            renewing.cancel()

    async def _renew(self, account_id: int, key: IdempotencyKey) -> None:
        while True:
            await asyncio.sleep(self._lease_s / 3)
            async with self._sessions() as session, session.begin():
                await idempotency.renew(session, account_id, key.key)

    async def _claim(self, account_id: int, key: IdempotencyKey) -> idempotency.Claim:
        loop = asyncio.get_running_loop()
        deadline, pause = loop.time() + self._wait_s, FIRST_POLL_S
        while True:
            async with self._sessions() as session, session.begin():
                claim = await idempotency.claim(
                    session, account_id, key.key, key.request_sha256, ttl_s=self._ttl_s, lease_s=self._lease_s
                )
            if claim.state == "mismatch":
                raise IdempotencyKeyReused("This Idempotency-Key was already used with a different request body.")
            if claim.state != "running":
                return claim
            if loop.time() + pause > deadline:
                raise RequestInProgress("A request with this Idempotency-Key is still running; retry shortly.")
            await asyncio.sleep(pause)
            pause = min(pause * 2, LAST_POLL_S)

    async def _release(self, account_id: int, key: IdempotencyKey) -> None:
        async with self._sessions() as session, session.begin():
            await idempotency.release(session, account_id, key.key)
