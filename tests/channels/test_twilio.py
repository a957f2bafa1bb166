"""An SMS channel through Twilio end to end, against a local stand-in for Twilio's REST API that
checks each send's path, Basic auth and form, and that calls back with the message's statuses
signed as Twilio signs them: an SMS signed with the auth token is kept, acknowledged with empty
TwiML and answered by SMS from the channel's number; a wrong or missing signature is refused
with nothing kept; Twilio's retry is answered once and charged once; media become placeholders;
an agent's message goes out too; statuses are recorded in order and shown on the message;
Twilio's refusals are said in plain words, retried or not as they deserve; behind a proxy, the
signature is checked against the public URL."""

import itertools
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from twilio.request_validator import RequestValidator

from replyd.store.channels import ChannelInbound, ChannelMessageStatus
from replyd.store.tables import Conversation, LedgerEntry
from tests.api.test_errors import assert_error
from tests.channels import answered_one, count
from tests.conftest import Tenant
from tests.servers import StubModel, TwilioApi, eventually

AUTH_TOKEN = "9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d"
numbers = itertools.count(14155550100)
customers = itertools.count(14155559000)
sids = itertools.count(1)


async def connect(tenant: Tenant) -> tuple[int, str, str]:
    """An SMS channel on a Twilio account and number of this test's own: its id, the account SID
    and the number."""
    number = f"+{next(numbers)}"
    account = f"AC{next(sids):032x}"
    credentials = {"account_sid": account, "auth_token": AUTH_TOKEN, "from_number": number}
    body = {"assistant_id": tenant.assistant_id, "kind": "twilio", "credentials": credentials}
    added = await tenant.client.post("/api/channels", json=body)
    assert added.status_code == 200, added.text
    assert added.json()["inbound_secret"] is None  # Twilio signs with the auth token
    return added.json()["channel"]["id"], account, number


def sms(account: str, number: str, sender: str, body: str = "Is my order on its way?", **more: str) -> dict[str, str]:
    """An incoming SMS as Twilio posts it (https://www.twilio.com/docs/messaging/guides/webhook-request)."""
    sid = f"SM{next(sids):032x}"
    return {
        "ToCountry": "US",
        "SmsMessageSid": sid,
        "NumMedia": "0",
        "SmsSid": sid,
        "SmsStatus": "received",
        "Body": body,
        "To": number,
        "NumSegments": "1",
        "MessageSid": sid,
        "AccountSid": account,
        "From": sender,
        "ApiVersion": "2010-04-01",
    } | more


def signed(url: str, form: dict[str, str], auth_token: str = AUTH_TOKEN) -> dict[str, str]:
    return {"X-Twilio-Signature": RequestValidator(auth_token).compute_signature(url, form)}


async def post(tenant: Tenant, path: str, form: dict[str, str], headers: dict[str, str] | None = None) -> Any:
    """Post ``form`` to replyd's ``path``, signed for the URL it is posted to unless ``headers`` says otherwise."""
    url = f"{tenant.client.base_url}{path}"
    return await tenant.client.post(path, data=form, headers=headers if headers is not None else signed(url, form))


@pytest.fixture
def twilio(twilio_api: TwilioApi) -> Iterator[TwilioApi]:
    """The stand-in, its status callbacks as Twilio's usually come (for the test to change)."""
    yield twilio_api
    twilio_api.callbacks = ["sent", "delivered"]


async def history(tenant: Tenant) -> list[dict[str, Any]]:
    """The history of the tenant's one conversation; empty until it starts."""
    listed = (await tenant.client.get("/api/user/conversations")).json()["data"]
    if not listed:
        return []
    return list((await tenant.client.get(f"/api/conversations/{listed[0]['id']}")).json()["history"])


async def test_an_sms_is_answered_by_sms_in_the_same_conversation(
    tenant: Tenant, stub_model: StubModel, twilio: TwilioApi, server: str, db: async_sessionmaker[AsyncSession]
) -> None:
    channel_id, account, number = await connect(tenant)
    customer = f"+{next(customers)}"
    stub_model.enqueue("Hello from the API.", "Yes: it arrives tomorrow.")
    assert (await tenant.reply("Hello", customer=customer)).status_code == 200  # started through the API
    acknowledged = await post(tenant, f"/channels/{channel_id}/twilio", sms(account, number, customer))
    assert acknowledged.status_code == 200
    assert acknowledged.headers["content-type"].startswith("text/xml")
    assert acknowledged.text == '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'

    await eventually(lambda: len(twilio.to(number)) == 1)
    [sent] = twilio.to(number)
    assert {key: sent[key] for key in ("To", "From", "Body")} == {
        "To": customer,
        "From": number,
        "Body": "Yes: it arrives tomorrow.",
    }
    assert sent["StatusCallback"] == f"{server}/channels/{channel_id}/twilio/status"
    assert twilio.malformed == 0
    said = [(m["author"], m["content"]) for m in await history(tenant)]
    assert said == [
        ("customer", "Hello"),
        ("ai", "Hello from the API."),
        ("customer", "Is my order on its way?"),
        ("ai", "Yes: it arrives tomorrow."),
    ]
    assert await count(db, Conversation, Conversation.account_id == tenant.account_id) == 1


@pytest.mark.parametrize("signature", ["missing", "other token", "other url", "other form"])
async def test_a_wrong_or_missing_signature_is_refused_and_nothing_is_kept(
    tenant: Tenant, stub_model: StubModel, db: async_sessionmaker[AsyncSession], signature: str
) -> None:
    channel_id, account, number = await connect(tenant)
    path = f"/channels/{channel_id}/twilio"
    form = sms(account, number, f"+{next(customers)}")
    url = f"{tenant.client.base_url}{path}"
    headers = {
        "missing": {},
        "other token": signed(url, form, "not the auth token"),
        "other url": signed(f"{url}?x=1", form),
        "other form": signed(url, form | {"Body": "Something else"}),
    }[signature]
    refused = await post(tenant, path, form, headers)
    assert "X-Twilio-Signature" in assert_error(refused, 401, "UNAUTHENTICATED")["error"]
    assert await count(db, ChannelInbound, ChannelInbound.channel_id == channel_id) == 0
    assert await count(db, Conversation, Conversation.account_id == tenant.account_id) == 0
    assert stub_model.requests == []


async def test_twilios_retry_of_an_sms_is_answered_once_and_charged_once(
    tenant: Tenant, stub_model: StubModel, twilio: TwilioApi, db: async_sessionmaker[AsyncSession]
) -> None:
    channel_id, account, number = await connect(tenant)
    stub_model.enqueue("Once.", "Twice?")
    form = sms(account, number, f"+{next(customers)}")
    for _ in range(3):
        assert (await post(tenant, f"/channels/{channel_id}/twilio", form)).status_code == 200
    await eventually(lambda: len(twilio.to(number)) == 1)
    await eventually(lambda: answered_one(db, channel_id))
    assert len(stub_model.requests) == 1
    assert await count(db, LedgerEntry, LedgerEntry.account_id == tenant.account_id, LedgerEntry.kind == "reply") == 1
    assert [sent["Body"] for sent in twilio.to(number)] == ["Once."]


@pytest.mark.parametrize(
    ("more", "reads"),
    [
        ({"NumMedia": "1", "MediaContentType0": "image/jpeg", "MediaUrl0": "https://api.twilio.com/m/1"}, "[image] "),
        ({"NumMedia": "2", "MediaContentType0": "image/png", "MediaContentType1": "video/mp4"}, "[image] [video] "),
        ({"Latitude": "52.52", "Longitude": "13.40"}, "[location] "),
    ],
)
async def test_media_and_locations_are_kept_as_placeholders_before_the_text(
    tenant: Tenant, stub_model: StubModel, twilio: TwilioApi, more: dict[str, str], reads: str
) -> None:
    channel_id, account, number = await connect(tenant)
    stub_model.enqueue("Got it.")
    form = sms(account, number, f"+{next(customers)}", "my broken lamp", **more)
    assert (await post(tenant, f"/channels/{channel_id}/twilio", form)).status_code == 200
    await eventually(lambda: len(twilio.to(number)) == 1)
    assert stub_model.requests[0]["messages"][-1]["content"] == f"{reads}my broken lamp"


async def answered(tenant: Tenant, stub_model: StubModel, twilio: TwilioApi) -> tuple[int, str, str]:
    """A channel whose answer to a customer's SMS went out: its id, the account and the number."""
    channel_id, account, number = await connect(tenant)
    stub_model.enqueue("On its way.")
    assert (
        await post(tenant, f"/channels/{channel_id}/twilio", sms(account, number, "+14155550123"))
    ).status_code == 200
    await eventually(lambda: len(twilio.to(number)) == 1)
    return channel_id, account, number


async def test_a_human_agents_message_goes_out_by_sms(tenant: Tenant, stub_model: StubModel, twilio: TwilioApi) -> None:
    _, _, number = await answered(tenant, stub_model, twilio)
    [listed] = (await tenant.client.get("/api/user/conversations")).json()["data"]
    path = f"/api/conversations/{listed['id']}/agent-messages"
    assert (await tenant.client.post(path, json={"message": "Anna here: it ships today."})).status_code == 200
    await eventually(lambda: len(twilio.to(number)) == 2)
    assert [sent["Body"] for sent in twilio.to(number)] == ["On its way.", "Anna here: it ships today."]


async def delivery_of_answer(tenant: Tenant) -> dict[str, Any] | None:
    """What the API shows of the answer's delivery (None before the answer)."""
    messages = await history(tenant)
    delivery: dict[str, Any] | None = messages[-1]["delivery"] if messages else None
    return delivery


async def answer_is(tenant: Tenant, status: str) -> bool:
    """Whether the API shows the answer's delivery as ``status``."""
    return ((await delivery_of_answer(tenant)) or {}).get("status") == status


@pytest.mark.parametrize(
    ("callbacks", "status", "error"),
    [
        (["queued", "sent", "delivered"], "delivered", None),
        (["delivered", "sent"], "delivered", None),  # out of order: the later one stays
        (
            ["sent", ("undelivered", 30003), "delivered"],
            "failed",
            "Twilio error 30003: the customer's phone is unreachable (switched off or out of coverage)",
        ),
    ],
)
async def test_the_statuses_twilio_reports_are_recorded_in_order_and_shown_on_the_message(
    tenant: Tenant,
    stub_model: StubModel,
    twilio: TwilioApi,
    callbacks: list[str | tuple[str, int]],
    status: str,
    error: str | None,
) -> None:
    twilio.callbacks = callbacks
    _, _, number = await answered(tenant, stub_model, twilio)
    sid = twilio.to(number)[0]["sid"]
    await eventually(lambda: len(twilio.callback_answers[sid]) == len(callbacks))
    assert twilio.callback_answers[sid] == [204] * len(callbacks)
    delivery = await delivery_of_answer(tenant)
    assert delivery is not None and (delivery["status"], delivery["error"]) == (status, error)
    assert [m["delivery"] for m in await history(tenant) if m["author"] == "customer"] == [None]


async def test_a_status_callback_with_a_wrong_signature_is_refused_and_changes_nothing(
    tenant: Tenant, stub_model: StubModel, twilio: TwilioApi
) -> None:
    twilio.callbacks = []
    channel_id, account, number = await answered(tenant, stub_model, twilio)
    await eventually(lambda: answer_is(tenant, "accepted"))  # pending until Twilio's answer is settled
    sid = twilio.to(number)[0]["sid"]
    form = {"MessageSid": sid, "MessageStatus": "delivered", "AccountSid": account}
    path = f"/channels/{channel_id}/twilio/status"
    refused = await post(tenant, path, form, signed(f"{tenant.client.base_url}{path}", form, "not the auth token"))
    assert_error(refused, 401, "UNAUTHENTICATED")
    assert (await delivery_of_answer(tenant) or {})["status"] == "accepted"
    assert (await post(tenant, path, form)).status_code == 204  # the same, signed
    assert (await delivery_of_answer(tenant) or {})["status"] == "delivered"


async def test_an_unsubscribed_customer_is_said_in_plain_words_and_not_retried(
    tenant: Tenant, stub_model: StubModel, twilio: TwilioApi
) -> None:
    channel_id, account, number = await connect(tenant)
    stub_model.enqueue("Hello?")
    attempts = twilio.attempts
    twilio.errors.append((400, 21610))
    assert (
        await post(tenant, f"/channels/{channel_id}/twilio", sms(account, number, "+14155550124"))
    ).status_code == 200

    await eventually(lambda: answer_is(tenant, "failed"))
    delivery = await delivery_of_answer(tenant)
    assert delivery is not None and delivery["error"] == (
        "Twilio refused the message for good: the customer has unsubscribed (replied STOP) from this number; "
        "they must reply START first (Attempt to send to unsubscribed recipient)."
    )
    assert twilio.attempts == attempts + 1
    assert twilio.to(number) == []


async def test_twilio_asking_to_slow_down_delays_the_message_and_it_goes_out_once(
    tenant: Tenant, stub_model: StubModel, twilio: TwilioApi
) -> None:
    twilio.callbacks = []
    channel_id, account, number = await connect(tenant)
    stub_model.enqueue("Here it comes.")
    attempts = twilio.attempts
    twilio.errors.extend([(429, 20429), (503, 20500)])
    assert (
        await post(tenant, f"/channels/{channel_id}/twilio", sms(account, number, "+14155550125"))
    ).status_code == 200
    await eventually(lambda: len(twilio.to(number)) == 1)
    assert twilio.attempts == attempts + 3

    await eventually(lambda: answer_is(tenant, "accepted"))
    assert (await delivery_of_answer(tenant) or {})["error"] is None


async def test_behind_a_proxy_the_signature_is_checked_against_the_public_url(
    make_tenant: Callable[..., Any], start_server: Callable[..., AbstractContextManager[str]]
) -> None:
    public = "https://replyd.example.com"
    with start_server(public_url=public) as url:
        tenant: Tenant = await make_tenant(base_url=url)
        channel_id, account, number = await connect(tenant)
        path = f"/channels/{channel_id}/twilio"
        form = sms(account, number, "+14155550126")
        as_seen_here = await post(tenant, path, form, signed(f"{url}{path}", form))
        assert_error(as_seen_here, 401, "UNAUTHENTICATED")
        as_twilio_called = await post(tenant, path, form, signed(f"{public}{path}", form))
        assert as_twilio_called.status_code == 200


@pytest.mark.parametrize("body", [b"Body=\xff\xfe&From=%2B14155550127", b"Body=%00&From=%2B14155550127"])
async def test_a_form_that_is_not_utf8_or_holds_a_nul_is_refused(
    tenant: Tenant, db: async_sessionmaker[AsyncSession], body: bytes
) -> None:
    channel_id, _, _ = await connect(tenant)
    refused = await tenant.client.post(
        f"/channels/{channel_id}/twilio", content=body, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    assert assert_error(refused, 422, "VALIDATION_ERROR")["details"][0]["field"] == "body"
    assert await count(db, ChannelInbound, ChannelInbound.channel_id == channel_id) == 0


async def test_the_inbound_urls_of_a_channel_of_another_kind_are_not_found(tenant: Tenant) -> None:
    body = {"assistant_id": tenant.assistant_id, "kind": "telegram", "credentials": {"bot_token": "1:" + "A" * 30}}
    telegram = (await tenant.client.post("/api/channels", json=body)).json()["channel"]["id"]
    for path in (f"/channels/{telegram}/twilio", f"/channels/{telegram}/twilio/status"):
        answer = await tenant.client.post(path, data={"MessageSid": "SM1"}, headers={"X-Twilio-Signature": "x"})
        assert_error(answer, 404, "NOT_FOUND")


async def test_a_message_whose_retries_run_out_is_failed_with_the_last_reason(
    tenant: Tenant, stub_model: StubModel, twilio: TwilioApi
) -> None:
    channel_id, account, number = await connect(tenant)
    stub_model.enqueue("Never arrives.")
    twilio.errors.extend([(503, 20500)] * 4)  # the tests' schedule: the first attempt and 3 retries
    form = sms(account, number, "+14155550128")
    assert (await post(tenant, f"/channels/{channel_id}/twilio", form)).status_code == 200

    await eventually(lambda: answer_is(tenant, "failed"))
    delivery = await delivery_of_answer(tenant)
    assert delivery is not None
    assert delivery["error"] == "Twilio refused the message (HTTP 503, error 20500): Service unavailable"
    assert twilio.to(number) == []


async def test_erasing_a_conversation_erases_what_the_channel_kept_of_that_customer_alone(
    tenant: Tenant, stub_model: StubModel, twilio: TwilioApi, db: async_sessionmaker[AsyncSession]
) -> None:
    channel_id, account, number = await connect(tenant)
    stub_model.enqueue("To the first.", "To the second.")
    for n, customer in enumerate(("+14155550131", "+14155550132"), start=1):
        assert (await post(tenant, f"/channels/{channel_id}/twilio", sms(account, number, customer))).status_code == 200
        await eventually(lambda sent=n: len(twilio.to(number)) == sent)
    listed = (await tenant.client.get("/api/user/conversations")).json()["data"]
    [first] = [c["id"] for c in listed if c["external_identifier"] == "+14155550131"]
    assert (await tenant.client.delete(f"/api/conversations/{first}")).status_code == 200

    async with db() as session:
        kept = await session.scalars(
            select(ChannelInbound.customer_identifier).where(ChannelInbound.channel_id == channel_id)
        )
        assert list(kept) == ["+14155550132"]
        statuses = await session.scalars(
            select(ChannelMessageStatus.channel_id).where(ChannelMessageStatus.channel_id == channel_id)
        )
        assert len(list(statuses)) == 1  # the second customer's answer's
