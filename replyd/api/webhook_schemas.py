"""Bodies of the event endpoint (webhook) endpoints."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, JsonValue, StrictStr

from replyd.api.openapi import example
from replyd.events.types import EVENT_TYPES
from replyd.services.webhooks import DeliveryView, EndpointView

ENDPOINT_EXAMPLE: dict[str, JsonValue] = {
    "id": 3,
    "url": "https://hooks.example.com/replyd",
    "events": ["message.created", "conversation.handoff_requested"],
    "enabled": True,
    "disabled_reason": None,
    "failing_since": None,
    "created_at": "2026-12-02T18:00:00Z",
}


class EndpointIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: StrictStr = Field(min_length=1, max_length=2000, description="Where events are POSTed (http or https).")
    events: list[StrictStr] = Field(
        default_factory=list, max_length=len(EVENT_TYPES), description="Types to receive; empty: every type."
    )


class EndpointData(BaseModel):
    id: int
    url: str
    events: list[str]
    enabled: bool
    disabled_reason: str | None
    failing_since: datetime | None
    created_at: datetime

    @classmethod
    def of(cls, endpoint: EndpointView) -> "EndpointData":
        return cls(
            id=endpoint.id,
            url=endpoint.url,
            events=endpoint.event_types,
            enabled=endpoint.enabled,
            disabled_reason=endpoint.disabled_reason,
            failing_since=endpoint.failing_since,
            created_at=endpoint.created_at,
        )


class NewEndpointOut(BaseModel):
    model_config = example(success=True, endpoint=ENDPOINT_EXAMPLE, secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")

    success: bool = True
    endpoint: EndpointData
    secret: str = Field(description="Verifies the endpoint's deliveries (Standard Webhooks); shown only now.")


class EndpointOut(BaseModel):
    model_config = example(success=True, endpoint=ENDPOINT_EXAMPLE)

    success: bool = True
    endpoint: EndpointData


class EndpointListOut(BaseModel):
    model_config = example(success=True, data=[ENDPOINT_EXAMPLE])

    success: bool = True
    data: list[EndpointData]


class DeletedEndpointOut(BaseModel):
    model_config = example(success=True, endpoint_id=3, deleted=True)

    success: bool = True
    endpoint_id: int
    deleted: bool = True


class DeliveryData(BaseModel):
    id: int
    event_id: str = Field(description="Also the webhook-id header of every attempt.")
    event_type: str
    status: str = Field(description="pending, delivered or failed (its retries ran out).")
    attempts: int
    next_attempt_at: datetime
    delivered_at: datetime | None
    created_at: datetime
    last_status_code: int | None
    last_error: str | None
    last_latency_ms: int | None
    last_response_excerpt: str | None

    @classmethod
    def of(cls, delivery: DeliveryView) -> "DeliveryData":
        return cls(
            id=delivery.id,
            event_id=delivery.event_id,
            event_type=delivery.event_type,
            status=delivery.status,
            attempts=delivery.attempts,
            next_attempt_at=delivery.next_attempt_at,
            delivered_at=delivery.delivered_at,
            created_at=delivery.created_at,
            last_status_code=delivery.last_status_code,
            last_error=delivery.last_error,
            last_latency_ms=delivery.last_latency_ms,
            last_response_excerpt=delivery.last_response_excerpt,
        )


DELIVERY_EXAMPLE: dict[str, JsonValue] = {
    "id": 42,
    "event_id": "evt_f18445a8ba544fe694da37bee8eb8538",
    "event_type": "message.created",
    "status": "delivered",
    "attempts": 2,
    "next_attempt_at": "2026-12-02T19:05:36Z",
    "delivered_at": "2026-12-02T19:05:37Z",
    "created_at": "2026-12-02T19:05:31Z",
    "last_status_code": 200,
    "last_error": None,
    "last_latency_ms": 38,
    "last_response_excerpt": "ok",
}


class DeliveryListOut(BaseModel):
    model_config = example(success=True, data=[DELIVERY_EXAMPLE])

    success: bool = True
    data: list[DeliveryData]


class ReplayOut(BaseModel):
    model_config = example(success=True, delivery_id=42)

    success: bool = True
    delivery_id: int = Field(description="The new delivery: due now, with the event's id unchanged.")
