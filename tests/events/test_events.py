"""Events out: an account's endpoint receives, signed as Standard Webhooks (checked here with
the standardwebhooks library), what happens in its conversations; a receiver that fails for a
while gets everything once it is back, in order; 410 disables the endpoint; an address the
guard refuses is never called; every attempt is logged and can be replayed."""

import asyncio
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from replyd.clock import utcnow
from replyd.settings import Settings
from replyd.store.events import Event
from tests.api.test_errors import assert_error
from tests.conftest import Tenant
from tests.servers import EventReceiver, eventually, receiving


async def subscribe(tenant: Tenant, receiver: EventReceiver, url: str, events: list[str] | None = None) -> int:
    response = await tenant.client.post("/api/webhooks", json={"url": url, "events": events or []})
    assert response.status_code == 200, response.text
    receiver.secret = response.json()["secret"]
    assert receiver.secret.startswith("whsec_")
    return int(response.json()["endpoint"]["id"])


async def start_chat(tenant: Tenant) -> str:
    started = await tenant.client.post("/api/conversations", json={"assistant_id": tenant.assistant_id})
    assert started.status_code == 200, started.text
    return str(started.json()["conversation_id"])


async def say(tenant: Tenant, conversation_id: str, text: str) -> None:
    path = f"/api/conversations/{conversation_id}/agent-messages"
    assert (await tenant.client.post(path, json={"message": text})).status_code == 200


async def test_a_human_agents_message_reaches_the_endpoint_signed_with_what_a_receiver_needs(
    tenant: Tenant, receiver: tuple[EventReceiver, str]
) -> None:
    inbox, url = receiver
    await subscribe(tenant, inbox, url)
    conversation_id = await start_chat(tenant)
    await say(tenant, conversation_id, "Hi, I am Anna from the shop. Grüße 🙂")

    await eventually(lambda: len(inbox.payloads("message.created")) == 1)
    [(headers, payload)] = [(h, p) for h, p in inbox.received if p["type"] == "message.created"]
    assert headers["webhook-id"] == payload["id"] and payload["id"].startswith("evt_")
    assert headers["content-type"] == "application/json"
    data = payload["data"]
    assert data["message"]["author"] == "agent" and data["message"]["role"] == "assistant"
    assert data["message"]["content"] == "Hi, I am Anna from the shop. Grüße 🙂"  # sent as stored, in UTF-8
    assert data["conversation"]["id"] == conversation_id
    assert data["conversation"]["assistant_id"] == tenant.assistant_id
    assert [p["type"] for p in inbox.payloads()] == ["conversation.created", "message.created"]
    assert inbox.unverified == 0


async def test_takeover_and_hand_back_are_told_in_order_and_only_to_who_subscribed(
    tenant: Tenant, receiver: tuple[EventReceiver, str]
) -> None:
    inbox, url = receiver
    await subscribe(tenant, inbox, url, ["conversation.ai_disabled", "conversation.ai_enabled"])
    conversation_id = await start_chat(tenant)
    await say(tenant, conversation_id, "A human here.")
    for action in ("disable-ai", "enable-ai", "disable-ai"):
        path = f"/api/automate/conversations/{conversation_id}/{action}"
        assert (await tenant.client.post(path)).status_code == 200

    await eventually(lambda: len(inbox.payloads()) == 3)
    types = [p["type"] for p in inbox.payloads()]
    assert types == ["conversation.ai_disabled", "conversation.ai_enabled", "conversation.ai_disabled"]
    assert all(p["data"]["by"] == "operator" for p in inbox.payloads())
    assert [p["data"]["conversation"]["ai_enabled"] for p in inbox.payloads()] == [False, True, False]


async def test_a_receiver_that_fails_for_a_while_gets_everything_once_in_order(
    tenant: Tenant, receiver: tuple[EventReceiver, str]
) -> None:
    inbox, url = receiver
    endpoint_id = await subscribe(tenant, inbox, url, ["message.created"])
    inbox.statuses.extend([500, 503, 502])  # down for the first three attempts
    conversation_id = await start_chat(tenant)
    for n in range(3):
        await say(tenant, conversation_id, f"message {n}")

    await eventually(lambda: len(inbox.payloads()) == 3)
    await asyncio.sleep(0.5)  # a duplicate would come within the retry schedule
    assert [p["data"]["message"]["content"] for p in inbox.payloads()] == ["message 0", "message 1", "message 2"]
    attempts = [h["webhook-id"] for h, _ in inbox.received]
    assert attempts[:4] == [attempts[0]] * 4  # the first event, retried with the same webhook-id
    listed = await tenant.client.get(f"/api/webhooks/{endpoint_id}/deliveries")
    deliveries = listed.json()["data"]
    assert [(d["status"], d["attempts"], d["last_status_code"]) for d in deliveries] == [
        ("delivered", 1, 200),
        ("delivered", 1, 200),
        ("delivered", 4, 200),
    ]
    created = [datetime.fromisoformat(d["created_at"]) for d in deliveries]
    delivered = [datetime.fromisoformat(d["delivered_at"]) for d in deliveries]
    assert all(made <= done <= utcnow() for made, done in zip(created, delivered, strict=True))
    assert delivered[2] - created[2] >= timedelta(seconds=3 * 0.2 * 0.8)  # its last attempt, after three waits


@pytest.mark.parametrize("asked", ["seconds", "date"])
async def test_a_receiver_asking_to_be_retried_later_is_left_alone_that_long(
    tenant: Tenant, receiver: tuple[EventReceiver, str], asked: str
) -> None:
    inbox, url = receiver
    await subscribe(tenant, inbox, url, ["message.created"])
    in_4_s = format_datetime(utcnow() + timedelta(seconds=4), usegmt=True)  # whole seconds: at least 3 s
    inbox.retry_after = "3" if asked == "seconds" else in_4_s
    inbox.statuses.append(503)
    await say(tenant, await start_chat(tenant), "Are you there?")
    await eventually(lambda: len(inbox.payloads()) == 1)
    first, second = inbox.arrivals
    assert second - first >= 2.9  # the schedule alone would have tried again after 0.2 s


async def test_an_endpoint_answering_410_gone_is_disabled(tenant: Tenant, receiver: tuple[EventReceiver, str]) -> None:
    inbox, url = receiver
    endpoint_id = await subscribe(tenant, inbox, url)
    inbox.statuses.append(410)
    await start_chat(tenant)

    async def disabled() -> bool:
        listed = (await tenant.client.get("/api/webhooks")).json()["data"]
        return not listed[0]["enabled"]

    await eventually(disabled)
    [endpoint] = (await tenant.client.get("/api/webhooks")).json()["data"]
    assert endpoint["id"] == endpoint_id and not endpoint["enabled"]
    assert "410" in endpoint["disabled_reason"]
    assert len(inbox.received) == 1

    [delivery] = (await tenant.client.get(f"/api/webhooks/{endpoint_id}/deliveries")).json()["data"]
    refused = await tenant.client.post(f"/api/webhooks/deliveries/{delivery['id']}/replay")
    assert "enable it first" in assert_error(refused, 409, "ENDPOINT_DISABLED")["error"]
    enabled = await tenant.client.post(f"/api/webhooks/{endpoint_id}/enable")
    assert enabled.status_code == 200
    assert (enabled.json()["endpoint"]["enabled"], enabled.json()["endpoint"]["disabled_reason"]) == (True, None)
    assert (await tenant.client.post(f"/api/webhooks/deliveries/{delivery['id']}/replay")).status_code == 200
    await eventually(lambda: len(inbox.payloads("conversation.created")) == 1)


async def test_an_endpoint_on_a_private_address_is_never_called(
    tenant: Tenant, receiver: tuple[EventReceiver, str]
) -> None:
    endpoint_id = await subscribe(tenant, receiver[0], "http://10.255.255.1/events")
    await start_chat(tenant)
    path = f"/api/webhooks/{endpoint_id}/deliveries"

    async def attempted() -> bool:
        deliveries = (await tenant.client.get(path)).json()["data"]
        return bool(deliveries and deliveries[0]["last_error"])

    await eventually(attempted)
    deliveries = (await tenant.client.get(path)).json()["data"]
    assert deliveries[0]["last_error"].startswith("refused: ")
    assert deliveries[0]["last_status_code"] is None


async def test_a_delivery_can_be_replayed_with_the_same_webhook_id(
    tenant: Tenant, receiver: tuple[EventReceiver, str]
) -> None:
    inbox, url = receiver
    endpoint_id = await subscribe(tenant, inbox, url, ["conversation.created"])
    await start_chat(tenant)
    await eventually(lambda: len(inbox.payloads()) == 1)
    [delivery] = (await tenant.client.get(f"/api/webhooks/{endpoint_id}/deliveries")).json()["data"]
    replayed = await tenant.client.post(f"/api/webhooks/deliveries/{delivery['id']}/replay")
    assert replayed.status_code == 200 and replayed.json()["delivery_id"] != delivery["id"]
    await eventually(lambda: len(inbox.payloads()) == 2)
    first, again = inbox.payloads()
    assert first == again and first["id"] == delivery["event_id"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"url": "ftp://hooks.example.com/x"}, "url"),
        ({"url": "not a url"}, "url"),
        ({"url": "https://hooks.example.com/x", "events": ["message.deleted"]}, "events"),
        ({"url": "https://hooks.example.com/x", "colour": "red"}, "colour"),
    ],
)
async def test_a_bad_endpoint_is_refused_naming_the_field(tenant: Tenant, body: dict[str, Any], field: str) -> None:
    error = assert_error(await tenant.client.post("/api/webhooks", json=body), 422, "VALIDATION_ERROR")
    assert field in [d["field"] for d in error["details"]]
    assert (await tenant.client.get("/api/webhooks")).json()["data"] == []


async def test_removing_an_endpoint_is_idempotent_and_other_accounts_cannot(
    tenant: Tenant, make_tenant: Callable[..., Any]
) -> None:
    created = await tenant.client.post("/api/webhooks", json={"url": "https://hooks.example.com/x"})
    endpoint_id = created.json()["endpoint"]["id"]
    other: Tenant = await make_tenant()
    assert (await other.client.delete(f"/api/webhooks/{endpoint_id}")).status_code == 200
    assert len((await tenant.client.get("/api/webhooks")).json()["data"]) == 1  # untouched by the other account
    assert_error(await other.client.get(f"/api/webhooks/{endpoint_id}/deliveries"), 404, "NOT_FOUND")
    for _ in range(2):
        assert (await tenant.client.delete(f"/api/webhooks/{endpoint_id}")).status_code == 200
    assert (await tenant.client.get("/api/webhooks")).json()["data"] == []


@pytest.fixture
def second_receiver() -> Iterator[tuple[EventReceiver, str]]:
    with receiving() as served:
        yield served


async def test_an_endpoint_that_does_not_answer_holds_up_no_other_endpoints_events(
    tenant: Tenant, receiver: tuple[EventReceiver, str], second_receiver: tuple[EventReceiver, str]
) -> None:
    (silent, silent_url), (inbox, url) = receiver, second_receiver
    silent.hold = 1  # answers nothing for as long as the test runs: the send waits for its timeout (10 s)
    await subscribe(tenant, silent, silent_url, ["message.created"])
    await subscribe(tenant, inbox, url, ["message.created"])
    conversation_id = await start_chat(tenant)
    await say(tenant, conversation_id, "first")
    await eventually(lambda: len(silent.held()) == 1 and len(inbox.payloads()) == 1)

    await say(tenant, conversation_id, "second")
    await eventually(lambda: len(inbox.payloads()) == 2, timeout_s=5)  # well within the silent one's timeout
    assert [p["data"]["message"]["content"] for p in inbox.payloads()] == ["first", "second"]
    assert [p["data"]["message"]["content"] for p in silent.payloads()] == []  # its second waits behind its first


async def test_an_endpoint_removed_while_its_delivery_is_on_its_way_stops_no_other_delivery(
    tenant: Tenant, receiver: tuple[EventReceiver, str], second_receiver: tuple[EventReceiver, str]
) -> None:
    (removed, removed_url), (inbox, url) = receiver, second_receiver
    removed.hold = 1
    endpoint_id = await subscribe(tenant, removed, removed_url, ["message.created"])
    await subscribe(tenant, inbox, url, ["message.created"])
    conversation_id = await start_chat(tenant)
    await say(tenant, conversation_id, "first")
    await eventually(lambda: len(removed.held()) == 1)
    assert (await tenant.client.delete(f"/api/webhooks/{endpoint_id}")).status_code == 200
    removed.release()  # its attempt ends now, for a delivery that is gone
    await eventually(lambda: not +removed.open_requests)

    for n, text in enumerate(["second", "third"], start=2):  # the third comes after the attempt's end is settled
        await say(tenant, conversation_id, text)
        await eventually(lambda: len(inbox.payloads()) == n)  # noqa: B023 (awaited at once)
    assert [p["data"]["message"]["content"] for p in inbox.payloads()] == ["first", "second", "third"]
    assert len(removed.received) == 1


@pytest.mark.parametrize("erased", ["conversation", "assistant"])
async def test_erasing_a_conversation_or_its_assistant_erases_its_events_text_and_all(
    tenant: Tenant, receiver: tuple[EventReceiver, str], db: async_sessionmaker[AsyncSession], erased: str
) -> None:
    inbox, url = receiver
    await subscribe(tenant, inbox, url, ["message.created"])
    assistant_id = (await tenant.client.post("/api/assistants", json={"name": "Spare"})).json()["assistant"]["id"]
    started = await tenant.client.post("/api/conversations", json={"assistant_id": assistant_id})
    conversation_id = started.json()["conversation_id"]
    await say(tenant, conversation_id, "My address is 12 Elm Street.")
    assert await events_of(db, conversation_id) > 0
    if erased == "conversation":
        assert (await tenant.client.delete(f"/api/conversations/{conversation_id}")).status_code == 200
    else:
        deleted = await tenant.client.delete(f"/api/assistants/{assistant_id}", params={"force": "true"})
        assert deleted.status_code == 200
    assert await events_of(db, conversation_id) == 0


async def events_of(db: async_sessionmaker[AsyncSession], conversation_id: str) -> int:
    async with db() as session:
        return int(await session.scalar(select(func.count()).where(Event.conversation_id == conversation_id)) or 0)


@pytest.mark.parametrize(("round_s", "lease_s", "is_allowed"), [(0.25, 20, True), (5, 20, False), (5, 20.5, True)])
def test_a_delivery_lease_must_outlast_a_send_and_two_rounds(round_s: float, lease_s: float, is_allowed: bool) -> None:
    """A chain stops sending when the lease could end before the round after settles it."""
    values = {"webhook_timeout_s": 10, "webhook_lease_s": lease_s, "event_round_s": round_s}
    if is_allowed:
        assert Settings(_env_file=None, **values).event_round_s == round_s  # type: ignore[call-arg]
    else:
        with pytest.raises(ValueError, match="two event_round_s"):
            Settings(_env_file=None, **values)  # type: ignore[call-arg]
