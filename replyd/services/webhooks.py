"""Each account's event endpoints: added with the types they take (and a secret of their own,
shown once), listed, removed; their deliveries listed and replayed. The API, the console and
the command line manage them through here."""

from dataclasses import dataclass
from datetime import datetime

import httpx
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from replyd.errors import EndpointDisabled, FieldProblem, NotFound, ValidationFailed
from replyd.events.types import EVENT_TYPES
from replyd.functions.signing import new_webhook_secret
from replyd.services.views import RowView
from replyd.store import accounts, events

MAX_ENDPOINTS = 20
"""Per account: each event is sent to every endpoint that takes it."""


@dataclass(frozen=True)
class EndpointView(RowView):
    id: int
    account_id: int
    url: str
    event_types: list[str]
    """Empty: every type."""
    enabled: bool
    disabled_reason: str | None
    failing_since: datetime | None
    created_at: datetime


@dataclass(frozen=True)
class NewEndpoint:
    endpoint: EndpointView
    secret: str
    """Verifies its deliveries (Standard Webhooks): shown once."""


@dataclass(frozen=True)
class DeliveryView:
    id: int
    endpoint_id: int
    event_id: str
    event_type: str
    status: str
    """``pending``, ``delivered`` or ``failed``."""
    attempts: int
    next_attempt_at: datetime
    delivered_at: datetime | None
    created_at: datetime
    last_status_code: int | None
    last_error: str | None
    last_latency_ms: int | None
    last_response_excerpt: str | None

    @classmethod
    def of(cls, row: events.DeliveryRow) -> "DeliveryView":
        delivery, event, attempt = row.delivery, row.event, row.last_attempt
        return cls(
            delivery.id,
            delivery.endpoint_id,
            event.public_id,
            event.type,
            delivery.status,
            delivery.attempts,
            delivery.next_attempt_at,
            delivery.delivered_at,
            delivery.created_at,
            attempt.status_code if attempt else None,
            attempt.error if attempt else None,
            attempt.latency_ms if attempt else None,
            attempt.response_excerpt if attempt else None,
        )


class WebhookService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def add(self, account_id: int, url: str, event_types: list[str]) -> NewEndpoint:
        _check_url(url)
        _check_types(event_types)
        secret = new_webhook_secret()
        async with self._sessions() as session, session.begin():
            if await accounts.get_account(session, account_id) is None:
                raise NotFound(f"There is no account {account_id}.")
            if len(await events.list_endpoints(session, account_id)) >= MAX_ENDPOINTS:
                raise ValidationFailed([FieldProblem("url", f"an account has at most {MAX_ENDPOINTS} endpoints")])
            row = await events.create_endpoint(session, account_id, url, sorted(set(event_types)), secret)
            return NewEndpoint(EndpointView.of(row), secret)

    async def endpoints(self, account_id: int) -> list[EndpointView]:
        async with self._sessions() as session:
            return [EndpointView.of(row) for row in await events.list_endpoints(session, account_id)]

    async def remove(self, account_id: int | None, endpoint_id: int) -> bool:
        """Whether it was there; its pending deliveries go with it. ``account_id`` None: any
        account's (the operator's command line)."""
        async with self._sessions() as session, session.begin():
            if await events.get_endpoint(session, account_id, endpoint_id) is None:
                return False
            await events.delete_endpoint(session, endpoint_id)
            return True

    async def deliveries(self, account_id: int | None, endpoint_id: int, limit: int) -> list[DeliveryView]:
        """The endpoint's newest deliveries, each with its last attempt."""
        async with self._sessions() as session:
            if await events.get_endpoint(session, account_id, endpoint_id) is None:
                raise NotFound(f"There is no endpoint {endpoint_id}.")
            return [DeliveryView.of(row) for row in await events.list_deliveries(session, endpoint_id, limit)]

    async def enable(self, account_id: int | None, endpoint_id: int) -> EndpointView:
        """Turn a disabled endpoint back on (its receiver is fixed): its pending deliveries
        go out again, in order. Idempotent."""
        async with self._sessions() as session, session.begin():
            if await events.get_endpoint(session, account_id, endpoint_id) is None:
                raise NotFound(f"There is no endpoint {endpoint_id}.")
            await events.enable_endpoint(session, endpoint_id)
            endpoint = await events.get_endpoint(session, account_id, endpoint_id)
            return EndpointView.of(endpoint)

    async def replay(self, account_id: int | None, delivery_id: int) -> int:
        """Send the delivery's event to its endpoint again, now; the new delivery's id."""
        async with self._sessions() as session, session.begin():
            delivery = await events.get_delivery(session, account_id, delivery_id)
            if delivery is None:
                raise NotFound(f"There is no delivery {delivery_id}.")
            endpoint = await events.get_endpoint(session, account_id, delivery.endpoint_id)
            if endpoint is not None and not endpoint.enabled:
                raise EndpointDisabled(
                    f"Endpoint {endpoint.id} is disabled ({endpoint.disabled_reason}); enable it first, "
                    f"with POST /api/webhooks/{endpoint.id}/enable or `replyd webhooks enable {endpoint.id}`."
                )
            return (await events.replay(session, delivery)).id


def _check_url(url: str) -> None:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host or len(url) > 2000:
        raise ValidationFailed([FieldProblem("url", "must be an http or https URL of at most 2000 characters")])


def _check_types(event_types: list[str]) -> None:
    unknown = sorted(set(event_types) - set(EVENT_TYPES))
    if unknown:
        problem = f"unknown event types: {', '.join(unknown)}; use any of: {', '.join(EVENT_TYPES)}"
        raise ValidationFailed([FieldProblem("events", problem)])
