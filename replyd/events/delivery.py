"""Delivering the outbox: a loop in every ``replyd serve`` process. Each round, in one
transaction, it settles the attempts that ended since the round before, fans new events out
into deliveries and claims the deliveries that can be sent, each with a lease so that no two
processes send the same attempt at once (a process that dies mid-send leaves it to another
once the lease ends: at least once, with the same ``webhook-id``). Then it sends them, and
the next round starts while they are on their way: a slow endpoint holds up nobody else's.

One conversation's events reach an endpoint in order. The deliveries of a round are sent as
chains, one per conversation at an endpoint, each one after another (the chains at once); a
chain stops at its first failure, and the rest of it waits until that one is delivered or
has failed for good.

A 2xx answer delivers; 410 Gone disables the endpoint; a platform's refusal that retrying
cannot help (WhatsApp's 24-hour window) fails the delivery for good at once, and is not held
against the endpoint; anything else (another status, a timeout, no connection, an address the
guard refuses) is retried on the schedule of ``REPLYD_WEBHOOK_RETRY_SCHEDULE``, with jitter,
never sooner than the receiver asked (``Retry-After``, or Telegram's ``retry_after``), and
fails for good when it runs out. An endpoint failing for longer than
``REPLYD_WEBHOOK_DISABLE_AFTER_S`` is disabled.

Rounds come every ``REPLYD_EVENT_ROUND_S`` (0.25 s), so that the events of that time share a
round's queries: at 0.1 s, one endpoint cost 1.41 ms of CPU per reply; at 0.25 s, 0.85 ms
(docs/performance.md)."""

import asyncio
import logging
import random
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import orjson
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from replyd.channels.sending import ChannelSender
from replyd.clock import utcnow
from replyd.events.types import envelope
from replyd.functions.signing import signature_headers
from replyd.functions.ssrf import BlockedAddress
from replyd.outbound import Outbound, SendFailed
from replyd.store import channels, events
from replyd.store.events import Due

log = logging.getLogger(__name__)

BATCH = 100
"""Events fanned out per round, and deliveries on their way at once."""
MAX_RETRY_AFTER_S = 24 * 3600.0
"""The longest ``Retry-After`` heeded: a receiver asking for more is tried again after a day."""
EXCERPT_CHARS = 500
"""Of each answer's body, kept in the attempt's log."""
USER_AGENT = "replyd-events/1"


@dataclass(frozen=True)
class Outcome:
    """What one attempt at a delivery came to: the answer's status (None: no answer), or why not."""

    due: Due
    attempted_at: datetime
    status_code: int | None
    latency_ms: int
    excerpt: str | None
    error: str | None
    is_final: bool = False
    """Failed for good at once: the platform said retrying cannot help."""
    retry_after_s: float | None = None
    """The receiver asked to wait this long before the next attempt (``Retry-After``)."""

    @property
    def delivered(self) -> bool:
        return self.error is None and self.status_code is not None and 200 <= self.status_code < 300


@dataclass
class Chain:
    """Claimed deliveries of one conversation at one endpoint (or one without a conversation),
    sent one after another; what came of those attempted, and those left unattempted."""

    dues: list[Due]
    outcomes: list[Outcome] = field(default_factory=list)
    unsent: list[int] = field(default_factory=list)


def chains(claimed: list[Due]) -> list[Chain]:
    """The claimed deliveries (oldest first) as chains, each in order."""
    by_key: dict[tuple[int, str] | int, Chain] = {}
    for due in claimed:
        key = (due.endpoint_id, due.conversation_id) if due.conversation_id else due.delivery_id
        by_key.setdefault(key, Chain([])).dues.append(due)
    return list(by_key.values())


class EventDelivery:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        outbound: Outbound,
        channel_sender: ChannelSender,
        retry_schedule_s: list[float],
        disable_after_s: float,
        timeout_s: float,
        lease_s: float,
        round_s: float,
    ) -> None:
        self._sessions = sessions
        self._outbound = outbound
        self._channel_sender = channel_sender
        self._schedule = retry_schedule_s
        self._disable_after = timedelta(seconds=disable_after_s)
        self._timeout_s = timeout_s
        self._lease_s = lease_s
        """Longer than a send can take (``timeout_s`` bounds the whole of it), so that no other
        process sends the delivery while this one still does."""
        self._round_s = round_s
        """The time between two rounds' starts (unless a round left work it had no room for):
        how late a new event may start out."""
        self._sending: dict[asyncio.Task[Chain], int] = {}
        """The chains on their way, and how many deliveries each holds."""

    async def run_forever(self) -> None:
        """Deliver until cancelled; a round that fails (the database away) is tried again, its
        ended attempts with it. Cancelled, it cancels the sends in flight: their deliveries go
        out again once their leases end (at least once)."""
        try:
            while True:
                started = time.monotonic()
                try:
                    full = await self.deliver_round()
                except Exception:
                    log.warning("delivering events failed; trying again", exc_info=True)
                    full = False
                if not full:
                    await asyncio.sleep(max(0.0, self._round_s - (time.monotonic() - started)))
        finally:
            for task in self._sending:
                task.cancel()

    async def deliver_round(self) -> bool:
        """One round; whether it left work it had no room for (then the next comes at once)."""
        ended = [task for task in self._sending if task.done()]
        room = BATCH - sum(self._sending.values()) + sum(self._sending[task] for task in ended)
        now = utcnow()
        async with self._sessions() as session, session.begin():
            if ended:
                await self._settle(session, [task.result() for task in ended], now)
            fanned = await events.fan_out(session, now, BATCH)
            claimed = await events.claim_due(session, now, timedelta(seconds=self._lease_s), room) if room else []
        for task in ended:
            del self._sending[task]
        deadline = time.monotonic() + self._lease_s - self._timeout_s - 2 * self._round_s
        for chain in chains(claimed):
            self._sending[asyncio.create_task(self._send_chain(chain, deadline))] = len(chain.dues)
        return fanned == BATCH or (bool(claimed) and len(claimed) == room)

    async def _send_chain(self, chain: Chain, deadline: float) -> Chain:
        """Send one after another until one fails or the time runs out to send another within
        the lease (and settle it in a round after); the rest are let go unattempted."""
        for n, due in enumerate(chain.dues):
            if chain.outcomes and (not chain.outcomes[-1].delivered or time.monotonic() > deadline):
                chain.unsent = [d.delivery_id for d in chain.dues[n:]]
                break
            chain.outcomes.append(await self._send(due))
        return chain

    async def _send(self, due: Due) -> Outcome:
        """Never raises: whatever goes wrong is the attempt's outcome, retried like any other."""
        attempted_at = utcnow()
        started = time.perf_counter()
        status: int | None = None
        excerpt = error = None
        is_final, retry_after = False, None
        try:
            if due.channel_id is not None:
                sent = await self._channel_sender.send(due, self._timeout_s)
                status, excerpt, error, is_final = sent.status, sent.excerpt, sent.error, sent.is_final
                retry_after = sent.retry_after_s
            else:
                status, excerpt, retry_after = await self._post(due, attempted_at)
        except BlockedAddress as exc:
            error = f"refused: {exc}"
        except TimeoutError:
            error = f"no answer within {self._timeout_s:g} s"
        except SendFailed as exc:
            error = f"could not connect: {exc}"
        except Exception as exc:
            log.warning("sending delivery %s failed", due.delivery_id, exc_info=True)
            error = f"could not send: {type(exc).__name__}"
        latency_ms = round((time.perf_counter() - started) * 1000)
        return Outcome(due, attempted_at, status, latency_ms, excerpt, error, is_final, retry_after)

    async def _post(self, due: Due, now: datetime) -> tuple[int, str, float | None]:
        """The event to an integrator's endpoint, signed as Standard Webhooks: its answer's
        status, the start of its body and the wait it asked for."""
        data = orjson.Fragment(due.data_json)
        body = orjson.dumps(envelope(due.event_public_id, due.event_type, due.event_created_at, data))
        signed = signature_headers(body, due.event_public_id, now, [due.secret])
        headers = {"Content-Type": "application/json", "User-Agent": USER_AGENT, **signed}
        answer = await self._outbound.send("POST", due.url, body, headers, self._timeout_s, EXCERPT_CHARS)
        excerpt = answer.body.decode(errors="replace").replace("\x00", "")  # a database keeps no NUL
        return answer.status, excerpt, answer.retry_after_s

    async def _settle(self, session: AsyncSession, ended: list[Chain], now: datetime) -> None:
        """Log every attempt and leave each delivery delivered, pending a retry, or failed for
        good (a channel's message says why on its status); endpoints that answered 410, or
        failed for too long, are disabled."""
        outcomes = [outcome for chain in ended for outcome in chain.outcomes]
        unsent = [delivery_id for chain in ended for delivery_id in chain.unsent]
        if unsent:
            await events.release(session, unsent)
        attempts = [self._attempt(outcome, now) for outcome in outcomes]
        await events.settle(session, attempts, now)
        refused = [
            (o.due.data["message"]["id"], a.status == "failed", o.error or f"HTTP {o.status_code}")
            for o, a in zip(outcomes, attempts, strict=True)
            if o.due.channel_id is not None and not o.delivered
        ]
        if refused:
            await channels.record_refusals(session, refused)
        succeeded = {o.due.endpoint_id for o in outcomes if o.delivered}
        gone = {o.due.endpoint_id for o in outcomes if o.status_code == 410}
        failed = {o.due.endpoint_id: o for o in outcomes if not o.delivered and not o.is_final}
        if succeeded:
            await events.endpoints_succeeded(session, succeeded)
        for endpoint_id in gone:
            await events.disable_endpoint(session, endpoint_id, "The endpoint answered 410 Gone.")
        still_failing = failed.keys() - succeeded - gone
        if not still_failing:
            return
        for endpoint_id, since in (await events.endpoints_failed(session, still_failing, now)).items():
            if now - since > self._disable_after:
                last = failed[endpoint_id]
                reason = (
                    f"Its deliveries failed for more than {self._disable_after} "
                    f"(the last: {last.error or last.status_code})."
                )
                await events.disable_endpoint(session, endpoint_id, reason)

    def _attempt(self, outcome: Outcome, now: datetime) -> events.Attempt:
        """The attempt as logged, and what it leaves its delivery."""
        attempts = outcome.due.attempts + 1
        if outcome.delivered:
            status, next_attempt_at = "delivered", now
        elif outcome.status_code == 410 or outcome.is_final or attempts > len(self._schedule):
            status, next_attempt_at = "failed", now
        else:
            wait_s = self._schedule[attempts - 1] * random.uniform(0.8, 1.2)  # jitter: endpoints back up apart
            wait_s = max(wait_s, min(outcome.retry_after_s or 0.0, MAX_RETRY_AFTER_S))
            status, next_attempt_at = "pending", now + timedelta(seconds=wait_s)
        return events.Attempt(
            delivery_id=outcome.due.delivery_id,
            attempted_at=outcome.attempted_at,
            status_code=outcome.status_code,
            latency_ms=outcome.latency_ms,
            response_excerpt=outcome.excerpt,
            error=outcome.error,
            status=status,
            attempts=attempts,
            next_attempt_at=next_attempt_at,
        )
