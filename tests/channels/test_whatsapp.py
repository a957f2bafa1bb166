"""A WhatsApp channel end to end, against a local stand-in for the Graph API that checks each
call's path, token and body: Meta's verification handshake; a notification signed with the app
secret is kept, answered 200 at once, and the assistant's answer goes out to the same number; a
wrong or missing signature is refused with nothing kept; Meta's retry is answered once and
charged once; several messages in one notification are each answered; an agent's message goes
out too; the 24-hour window's refusal is said in plain words and not retried; the statuses of a
sent message are recorded in order, an older one ignored."""

import hashlib
import hmac
import itertools
import json
from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from replyd.store.channels import ChannelInbound, ChannelMessageStatus
from replyd.store.events import Delivery, DeliveryAttempt, EventEndpoint
from replyd.store.tables import Conversation, LedgerEntry, Message
from tests.api.test_errors import assert_error
from tests.channels import answered_one, count
from tests.conftest import Tenant
from tests.servers import GraphApi, Scripted, StubModel, eventually

APP_SECRET = "6c3b1b0d2f8e4a5b9c7d1e2f3a4b5c6d"
numbers = itertools.count(106540352242920)
customers = itertools.count(4915550100)
wamids = itertools.count(1)


async def connect(tenant: Tenant) -> tuple[int, str, str]:
    """A WhatsApp channel of a business number of this test's own: its id, the phone number id
    and the verify token."""
    number = str(next(numbers))
    credentials = {"access_token": f"EAAG{number}", "app_secret": APP_SECRET, "phone_number_id": number}
    body = {"assistant_id": tenant.assistant_id, "kind": "whatsapp", "credentials": credentials}
    added = await tenant.client.post("/api/channels", json=body)
    assert added.status_code == 200, added.text
    assert added.json()["channel"]["inbound_path"] == f"/channels/{added.json()['channel']['id']}/whatsapp"
    return added.json()["channel"]["id"], number, added.json()["inbound_secret"]


def message(sender: str, type: str = "text", **content: Any) -> dict[str, Any]:
    """A customer's message as a notification holds it."""
    body = content or {"body": "Hi, are you open today?"}
    return {"from": sender, "id": f"wamid.HBgN{next(wamids):06d}", "timestamp": "1764770000", "type": type, type: body}


def notification(
    number: str, messages: Sequence[dict[str, Any]] = (), statuses: Sequence[dict[str, Any]] = ()
) -> bytes:
    """A notification as Meta posts it (https://developers.facebook.com/docs/whatsapp/cloud-api/webhooks)."""
    value: dict[str, Any] = {
        "messaging_product": "whatsapp",
        "metadata": {"display_phone_number": "15550783881", "phone_number_id": number},
    }
    if messages:
        value["contacts"] = [{"profile": {"name": "Kerry"}, "wa_id": m["from"]} for m in messages]
        value["messages"] = list(messages)
    if statuses:
        value["statuses"] = list(statuses)
    change = {"field": "messages", "value": value}
    return json.dumps(
        {"object": "whatsapp_business_account", "entry": [{"id": "102290129340398", "changes": [change]}]}
    ).encode()


def signed(body: bytes, secret: str = APP_SECRET) -> dict[str, str]:
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}", "Content-Type": "application/json"}


async def post(tenant: Tenant, channel_id: int, body: bytes, headers: dict[str, str] | None = None) -> Any:
    return await tenant.client.post(f"/channels/{channel_id}/whatsapp", content=body, headers=headers or signed(body))


async def test_the_verification_handshake_answers_the_challenge(tenant: Tenant) -> None:
    channel_id, _, verify_token = await connect(tenant)
    query = {"hub.mode": "subscribe", "hub.verify_token": verify_token, "hub.challenge": "1158201444"}
    answered = await tenant.client.get(f"/channels/{channel_id}/whatsapp", params=query)
    assert (answered.status_code, answered.text) == (200, "1158201444")
    assert answered.headers["content-type"].startswith("text/plain")


@pytest.mark.parametrize("token", [None, "", "wrong"])
async def test_a_wrong_or_missing_verify_token_is_refused(tenant: Tenant, token: str | None) -> None:
    channel_id, _, _ = await connect(tenant)
    query = {"hub.mode": "subscribe", "hub.challenge": "1158201444"} | (
        {"hub.verify_token": token} if token is not None else {}
    )
    refused = await tenant.client.get(f"/channels/{channel_id}/whatsapp", params=query)
    assert "1158201444" not in assert_error(refused, 403, "FORBIDDEN")["error"]


async def test_a_message_from_whatsapp_is_answered_in_the_same_conversation(
    tenant: Tenant, stub_model: StubModel, graph_api: GraphApi, db: async_sessionmaker[AsyncSession]
) -> None:
    channel_id, number, _ = await connect(tenant)
    customer = str(next(customers))
    stub_model.enqueue("Hello from the API.", "Yes, until 6 pm.")
    assert (await tenant.reply("Hello", customer=f"+{customer}")).status_code == 200  # started through the API
    acknowledged = await post(tenant, channel_id, notification(number, [message(customer)]))
    assert acknowledged.status_code == 200

    await eventually(lambda: len(graph_api.to(number)) == 1)
    expected = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": customer,
        "type": "text",
        "text": {"preview_url": False, "body": "Yes, until 6 pm."},
    }
    assert graph_api.to(number) == [expected]
    assert [token for n, token, _, _ in graph_api.sent if n == number] == [f"EAAG{number}"]
    async with db() as session:
        [conversation] = (
            await session.scalars(select(Conversation).where(Conversation.account_id == tenant.account_id))
        ).all()
        assert (conversation.customer_identifier, conversation.channel_id) == (f"+{customer}", channel_id)
        said = (
            await session.scalars(
                select(Message.content).where(Message.conversation_id == conversation.id).order_by(Message.id)
            )
        ).all()
    assert said == ["Hello", "Hello from the API.", "Hi, are you open today?", "Yes, until 6 pm."]
    assert graph_api.malformed == 0


@pytest.mark.parametrize("headers", [{}, {"X-Hub-Signature-256": "sha256=00"}, "other secret", "unprefixed"])
async def test_a_wrong_or_missing_signature_is_refused_and_nothing_is_kept(
    tenant: Tenant, stub_model: StubModel, db: async_sessionmaker[AsyncSession], headers: Any
) -> None:
    channel_id, number, _ = await connect(tenant)
    body = notification(number, [message(str(next(customers)))])
    if headers == "other secret":
        headers = signed(body, "not the app secret")
    elif headers == "unprefixed":
        headers = {"X-Hub-Signature-256": signed(body)["X-Hub-Signature-256"].removeprefix("sha256=")}
    refused = await post(tenant, channel_id, body, headers | {"Content-Type": "application/json"})
    assert "X-Hub-Signature-256" in assert_error(refused, 401, "UNAUTHENTICATED")["error"]
    assert await count(db, ChannelInbound, ChannelInbound.channel_id == channel_id) == 0
    assert await count(db, Conversation, Conversation.account_id == tenant.account_id) == 0
    assert stub_model.requests == []


async def test_a_signature_over_other_bytes_of_the_same_json_is_refused(
    tenant: Tenant, db: async_sessionmaker[AsyncSession]
) -> None:
    channel_id, number, _ = await connect(tenant)
    body = notification(number, [message(str(next(customers)))])
    reformatted = json.dumps(json.loads(body), indent=2).encode()
    assert_error(await post(tenant, channel_id, reformatted, signed(body)), 401, "UNAUTHENTICATED")
    assert await count(db, ChannelInbound, ChannelInbound.channel_id == channel_id) == 0


async def test_metas_retry_of_a_message_is_answered_once_and_charged_once(
    tenant: Tenant, stub_model: StubModel, graph_api: GraphApi, db: async_sessionmaker[AsyncSession]
) -> None:
    channel_id, number, _ = await connect(tenant)
    stub_model.enqueue("Once.", "Twice?")
    body = notification(number, [message(str(next(customers)))])
    for _ in range(3):
        assert (await post(tenant, channel_id, body)).status_code == 200
    await eventually(lambda: len(graph_api.to(number)) == 1)
    await eventually(lambda: answered_one(db, channel_id))
    assert await count(db, ChannelInbound, ChannelInbound.channel_id == channel_id) == 1
    assert len(stub_model.requests) == 1
    assert await count(db, LedgerEntry, LedgerEntry.account_id == tenant.account_id, LedgerEntry.kind == "reply") == 1
    assert [m["text"]["body"] for m in graph_api.to(number)] == ["Once."]


async def test_each_message_of_a_notification_is_answered(
    tenant: Tenant, stub_model: StubModel, graph_api: GraphApi
) -> None:
    channel_id, number, _ = await connect(tenant)
    first, second = str(next(customers)), str(next(customers))
    stub_model.rule = lambda request: Scripted(text=f"To {request['messages'][-1]['content']}.")  # answered at once
    messages = [message(first, body="the first"), message(second, body="the second")]
    assert (await post(tenant, channel_id, notification(number, messages))).status_code == 200
    await eventually(lambda: len(graph_api.to(number)) == 2)
    sent = sorted((m["to"], m["text"]["body"]) for m in graph_api.to(number))  # two conversations: in either order
    assert sent == [(first, "To the first."), (second, "To the second.")]


@pytest.mark.parametrize(
    ("sent", "reads"),
    [
        (
            ("image", {"id": "1479537139650973", "mime_type": "image/jpeg", "caption": "my broken lamp"}),
            "[image] my broken lamp",
        ),
        (("audio", {"id": "1479537139650974", "mime_type": "audio/ogg", "voice": True}), "[audio]"),
        (
            ("reaction", {"message_id": "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJDQjZCMzlEQUE4OTJBMTE4RTUA", "emoji": "👍"}),
            "[reaction 👍]",
        ),
        (("location", {"latitude": 52.52, "longitude": 13.40}), "[location]"),
    ],
)
async def test_a_message_that_is_not_text_is_kept_as_a_placeholder(
    tenant: Tenant, stub_model: StubModel, graph_api: GraphApi, sent: tuple[str, dict[str, Any]], reads: str
) -> None:
    channel_id, number, _ = await connect(tenant)
    stub_model.enqueue("Got it.")
    type, content = sent
    assert (
        await post(tenant, channel_id, notification(number, [message(str(next(customers)), type, **content)]))
    ).status_code == 200
    await eventually(lambda: len(graph_api.to(number)) == 1)
    assert stub_model.requests[0]["messages"][-1]["content"] == reads


async def test_a_human_agents_message_goes_out_on_the_channel(
    tenant: Tenant, stub_model: StubModel, graph_api: GraphApi
) -> None:
    channel_id, number, _ = await connect(tenant)
    stub_model.enqueue("Let me check.")
    assert (await post(tenant, channel_id, notification(number, [message(str(next(customers)))]))).status_code == 200
    await eventually(lambda: len(graph_api.to(number)) == 1)
    [listed] = (await tenant.client.get("/api/user/conversations")).json()["data"]
    path = f"/api/conversations/{listed['id']}/agent-messages"
    assert (await tenant.client.post(path, json={"message": "Anna here: it is in stock."})).status_code == 200
    await eventually(lambda: len(graph_api.to(number)) == 2)
    assert [m["text"]["body"] for m in graph_api.to(number)] == ["Let me check.", "Anna here: it is in stock."]


async def attempts_of(
    db: async_sessionmaker[AsyncSession], channel_id: int
) -> list[tuple[str, int | None, str | None]]:
    """(the delivery's status, the attempt's HTTP status, its error) of each attempt on the channel, in order."""
    async with db() as session:
        rows = await session.execute(
            select(Delivery.status, DeliveryAttempt.status_code, DeliveryAttempt.error)
            .join(Delivery, Delivery.id == DeliveryAttempt.delivery_id)
            .join(EventEndpoint, EventEndpoint.id == Delivery.endpoint_id)
            .where(EventEndpoint.channel_id == channel_id)
            .order_by(DeliveryAttempt.id)
        )
        return [tuple(row) for row in rows]  # type: ignore[misc]


async def test_the_24_hour_window_is_said_in_plain_words_and_not_retried(
    tenant: Tenant, stub_model: StubModel, graph_api: GraphApi, db: async_sessionmaker[AsyncSession]
) -> None:
    channel_id, number, _ = await connect(tenant)
    stub_model.enqueue("Too late.")
    graph_api.errors.append((400, 131047))
    assert (await post(tenant, channel_id, notification(number, [message(str(next(customers)))]))).status_code == 200

    async def failed() -> bool:
        return [status for status, _, _ in await attempts_of(db, channel_id)] == ["failed"]

    await eventually(failed)
    [(_, status_code, error)] = await attempts_of(db, channel_id)
    assert status_code == 400
    assert error == (
        "More than 24 hours have passed since the customer last wrote: WhatsApp only lets a template "
        "message through now; the message was not sent."
    )
    assert [n for n, _ in graph_api.attempts].count(number) == 1
    assert graph_api.to(number) == []
    async with db() as session:  # the customer's silence is not the channel failing
        endpoint = await session.scalar(select(EventEndpoint).where(EventEndpoint.channel_id == channel_id))
        assert endpoint is not None and endpoint.enabled and endpoint.failing_since is None


async def test_graph_failing_for_a_while_delays_the_message_and_it_goes_out_once(
    tenant: Tenant, stub_model: StubModel, graph_api: GraphApi, db: async_sessionmaker[AsyncSession]
) -> None:
    channel_id, number, _ = await connect(tenant)
    stub_model.enqueue("Here it comes.")
    graph_api.errors.extend([(503, 2), (400, 130429)])
    assert (await post(tenant, channel_id, notification(number, [message(str(next(customers)))]))).status_code == 200
    await eventually(lambda: len(graph_api.to(number)) == 1)
    assert [body["text"]["body"] for n, body in graph_api.attempts if n == number] == ["Here it comes."] * 3

    async def settled() -> bool:
        return [status for status, _, _ in await attempts_of(db, channel_id)] == ["delivered"] * 3

    await eventually(settled)
    errors = [error for _, _, error in await attempts_of(db, channel_id)]
    assert errors[1] == "WhatsApp asks to slow down: too many messages for now (Rate limit hit)."
    assert errors[2] is None


async def answer_out(tenant: Tenant, stub_model: StubModel, graph_api: GraphApi) -> tuple[int, str, str, str]:
    """A channel whose answer to a customer went out: its id, the phone number id, the customer
    and the answer's wamid."""
    channel_id, number, _ = await connect(tenant)
    customer = str(next(customers))
    stub_model.enqueue("Sent.")
    assert (await post(tenant, channel_id, notification(number, [message(customer)]))).status_code == 200
    await eventually(lambda: len(graph_api.to(number)) == 1)
    [wamid] = [wamid for n, _, _, wamid in graph_api.sent if n == number]
    return channel_id, number, customer, wamid


async def recorded(db: async_sessionmaker[AsyncSession], wamid: str) -> tuple[str, str | None] | None:
    """The status recorded for a sent message, and its error."""
    async with db() as session:
        row = await session.scalar(
            select(ChannelMessageStatus).where(ChannelMessageStatus.platform_message_id == wamid)
        )
        return None if row is None else (row.status, row.error)


def status(wamid: str, customer: str, name: str, **more: Any) -> dict[str, Any]:
    """A sent message's status as a notification holds it."""
    return {"id": wamid, "status": name, "timestamp": "1764770100", "recipient_id": customer, **more}


async def test_the_statuses_of_a_sent_message_are_recorded_in_order(
    tenant: Tenant, stub_model: StubModel, graph_api: GraphApi, db: async_sessionmaker[AsyncSession]
) -> None:
    channel_id, number, customer, wamid = await answer_out(tenant, stub_model, graph_api)
    await eventually(lambda: recorded(db, wamid))
    assert await recorded(db, wamid) == ("accepted", None)
    for name, expected in [("sent", "sent"), ("read", "read"), ("delivered", "read")]:  # delivered came late
        posted = await post(tenant, channel_id, notification(number, statuses=[status(wamid, customer, name)]))
        assert posted.status_code == 200
        assert await recorded(db, wamid) == (expected, None)
    unknown = status("wamid.not-ours", customer, "delivered")
    assert (await post(tenant, channel_id, notification(number, statuses=[unknown]))).status_code == 200
    assert await count(db, ChannelMessageStatus, ChannelMessageStatus.channel_id == channel_id) == 1


async def test_a_failed_status_is_recorded_with_its_reason_and_is_final(
    tenant: Tenant, stub_model: StubModel, graph_api: GraphApi, db: async_sessionmaker[AsyncSession]
) -> None:
    channel_id, number, customer, wamid = await answer_out(tenant, stub_model, graph_api)
    await eventually(lambda: recorded(db, wamid))
    error = {
        "code": 131026,
        "title": "Message undeliverable",
        "message": "Message undeliverable",
        "error_data": {"details": "The number is not on WhatsApp."},
    }
    failure = status(wamid, customer, "failed", errors=[error])
    late = status(wamid, customer, "delivered")
    assert (await post(tenant, channel_id, notification(number, statuses=[failure, late]))).status_code == 200
    assert await recorded(db, wamid) == ("failed", "Message undeliverable: The number is not on WhatsApp.")
