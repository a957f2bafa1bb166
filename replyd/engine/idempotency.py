"""Idempotency-Key handling: the first request with a key runs; a retry with the same key and
body gets the first answer again (no second model call, message or charge); a retry while
the first still runs waits for it, up to a limit, then gets 409."""

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import asdict

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from replyd.engine.reply import IdempotencyKey, ReplyRequest, ReplyResult
from replyd.errors import IdempotencyKeyReused, RequestInProgress
from replyd.settings import Settings
from replyd.store import idempotency

FIRST_POLL_S, LAST_POLL_S = 0.02, 0.5


def request_fingerprint(route: str, request: ReplyRequest) -> str:
    """Same route and same fields in any key order -> same fingerprint."""
    canonical = json.dumps([route, asdict(request)], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


class IdempotentRunner:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], settings: Settings, lease_s: float = 60.0) -> None:
        self._sessions = sessions
        self._ttl_s = settings.idempotency_ttl_s
        self._wait_s = settings.idempotency_wait_s
        self._lease_s = lease_s
        """A running claim not renewed for this long belonged to a process that died. The
        process running it renews it every third of that, however long it waits or thinks."""

    async def run(
        self,
        account_id: int,
        key: IdempotencyKey | None,
        reply: Callable[[IdempotencyKey | None], Awaitable[ReplyResult]],
    ) -> ReplyResult:
        if key is None:
            return await reply(None)
        claim = await self._claim(account_id, key)
        if claim.state == "replay":
            assert claim.response is not None
            return ReplyResult(**claim.response)
        renewing = asyncio.create_task(self._renew(account_id, key))
        try:
            return await reply(key)
        except BaseException:
            await asyncio.shield(self._release(account_id, key))
            raise
        finally:
            renewing.cancel()

    async def _renew(self, account_id: int, key: IdempotencyKey) -> None:
        while True:
            await asyncio.sleep(self._lease_s / 3)
            async with self._sessions() as session:
                await idempotency.renew(session, account_id, key.key)

    async def _claim(self, account_id: int, key: IdempotencyKey) -> idempotency.Claim:
        loop = asyncio.get_running_loop()
        deadline, pause = loop.time() + self._wait_s, FIRST_POLL_S
        while True:
            async with self._sessions() as session:
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
        async with self._sessions() as session:
            await idempotency.release(session, account_id, key.key)
