"""Delivering the outbox: a loop in every ``replyd serve`` process. Each round it fans new
events out into deliveries, then sends the deliveries that are due, each claimed with a
lease so that no two processes send the same attempt at once (a process that dies mid-send
leaves it to another once the lease ends: at least once, with the same ``webhook-id``).

A 2xx answer delivers; 410 Gone disables the endpoint; anything else (another status, a
timeout, no connection, an address the guard refuses) is retried on the schedule of
``REPLYD_WEBHOOK_RETRY_SCHEDULE``, with jitter, and fails for good when it runs out. An
endpoint failing for longer than ``REPLYD_WEBHOOK_DISABLE_AFTER_S`` is disabled. One
conversation's events reach an endpoint in order: the next waits until the one before is
delivered or has failed for good."""

import asyncio
import json
import logging
import random
import time
from datetime import datetime, timedelta

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from replyd.clock import utcnow
from replyd.events.types import envelope
from replyd.functions.signing import signature_headers
from replyd.functions.ssrf import BlockedAddress
from replyd.outbound import Outbound
from replyd.store import events
from replyd.store.events import Due

log = logging.getLogger(__name__)

BATCH = 50
"""Events fanned out, and deliveries sent, per round."""
IDLE_S = 0.25
"""The wait after a round that found nothing to do: how late a new event may start out."""
EXCERPT_CHARS = 500
"""Of each answer's body, kept in the attempt's log."""
USER_AGENT = "replyd-events/1"


class EventDelivery:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        outbound: Outbound,
        retry_schedule_s: list[float],
        disable_after_s: float,
        timeout_s: float,
        lease_s: float,
    ) -> None:
        self._sessions = sessions
        self._outbound = outbound
        self._schedule = retry_schedule_s
        self._disable_after = timedelta(seconds=disable_after_s)
        self._timeout_s = timeout_s
        self._lease = timedelta(seconds=lease_s)
        """Longer than a send can take (``timeout_s`` bounds the whole of it), so that no other
        process sends the delivery while this one still does."""

    async def run_forever(self, interval_s: float = IDLE_S) -> None:
        """Deliver until cancelled; a round that fails (the database away) is tried again."""
        while True:
            try:
                busy = await self.deliver_due()
            except Exception:
                log.warning("delivering events failed; trying again", exc_info=True)
                busy = False
            if not busy:
                await asyncio.sleep(interval_s)

    async def deliver_due(self) -> bool:
        """One round; whether there was anything to do (then the next round comes at once)."""
        async with self._sessions() as session, session.begin():
            fanned = await events.fan_out(session, BATCH)
        now = utcnow()
        async with self._sessions() as session:
            due = await events.due_deliveries(session, now, BATCH)
        claimed = [d for d in [await self._claim(delivery_id, now) for delivery_id in due] if d is not None]
        await asyncio.gather(*(self._send(delivery) for delivery in claimed))
        return bool(fanned or claimed)

    async def _claim(self, delivery_id: int, now: datetime) -> Due | None:
        async with self._sessions() as session, session.begin():
            return await events.claim(session, delivery_id, now, self._lease)

    async def _send(self, due: Due) -> None:
        body = json.dumps(
            envelope(due.event_public_id, due.event_type, due.event_created_at, due.data), separators=(",", ":")
        )
        started = time.perf_counter()
        status: int | None = None
        excerpt = error = None
        try:
            signed = signature_headers(body.encode(), due.event_public_id, utcnow(), [due.secret])
            headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, **signed}
            async with (
                asyncio.timeout(self._timeout_s),  # httpx's timeout bounds each read, not the whole answer
                self._outbound.send("POST", due.url, body.encode(), headers, self._timeout_s) as response,
            ):
                status = response.status_code
                excerpt = await _excerpt(response)
        except BlockedAddress as exc:
            error = f"refused: {exc}"
        except (httpx.TimeoutException, TimeoutError):
            status, error = None, f"no answer within {self._timeout_s:g} s"  # cut off: no answer, whatever its status
        except httpx.HTTPError as exc:
            error = f"could not connect: {type(exc).__name__}"
        except Exception as exc:  # logged and retried like any failed attempt, never left claimed
            log.warning("sending delivery %s failed", due.delivery_id, exc_info=True)
            error = f"could not send: {type(exc).__name__}"
        latency_ms = round((time.perf_counter() - started) * 1000)
        await self._settle(due, status, latency_ms, excerpt, error)

    async def _settle(
        self, due: Due, status: int | None, latency_ms: int, excerpt: str | None, error: str | None
    ) -> None:
        attempts = due.attempts + 1
        now = utcnow()
        async with self._sessions() as session, session.begin():
            await events.log_attempt(
                session,
                due.delivery_id,
                status_code=status,
                latency_ms=latency_ms,
                response_excerpt=excerpt,
                error=error,
            )
            if status is not None and 200 <= status < 300:
                await events.settle(
                    session, due.delivery_id, status="delivered", attempts=attempts, next_attempt_at=now
                )
                await events.endpoint_succeeded(session, due.endpoint_id)
                return
            if status == 410:
                await events.disable_endpoint(session, due.endpoint_id, "The endpoint answered 410 Gone.")
                await events.settle(session, due.delivery_id, status="failed", attempts=attempts, next_attempt_at=now)
                return
            failing_since = await events.endpoint_failed(session, due.endpoint_id, now)
            if now - failing_since > self._disable_after:
                reason = f"Its deliveries failed for more than {self._disable_after} (the last: {error or status})."
                await events.disable_endpoint(session, due.endpoint_id, reason)
            if attempts > len(self._schedule):
                await events.settle(session, due.delivery_id, status="failed", attempts=attempts, next_attempt_at=now)
                return
            wait_s = self._schedule[attempts - 1] * random.uniform(0.8, 1.2)  # jitter: endpoints back up apart
            await events.settle(
                session,
                due.delivery_id,
                status="pending",
                attempts=attempts,
                next_attempt_at=now + timedelta(seconds=wait_s),
            )


async def _excerpt(response: httpx.Response) -> str:
    data = b""
    async for chunk in response.aiter_bytes():
        data += chunk
        if len(data) >= EXCERPT_CHARS:
            break
    return data[:EXCERPT_CHARS].decode(errors="replace").replace("\x00", "")  # a database keeps no NUL
