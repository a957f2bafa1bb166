"""A Telegram channel end to end, against a local stand-in for the Bot API that checks each
call's shape: an update with the right secret token is kept, answered 200 at once, and the
assistant's answer goes out with ``sendMessage`` to the same chat; a wrong or missing token is
refused with nothing kept; Telegram's retry of an update is answered once and charged once; a
human agent's message in the conversation goes out too; Telegram failing for a while delays
the message, and it goes out once."""

import itertools
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy import update as update_table
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from replyd.clock import utcnow
from replyd.store.channels import ChannelInbound, keep_inbound
from replyd.store.tables import Conversation, LedgerEntry, Message
from tests.api.test_errors import assert_error
from tests.channels import answered_one, count
from tests.conftest import Tenant
from tests.servers import StubModel, TelegramApi, eventually

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
updates = itertools.count(1000)
bots = itertools.count(100000)


async def connect(tenant: Tenant) -> tuple[int, str, str]:
    """A Telegram channel of a bot of this test's own: its id, its bot token and its secret token."""
    bot_token = f"{next(bots)}:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
    body = {"assistant_id": tenant.assistant_id, "kind": "telegram", "credentials": {"bot_token": bot_token}}
    added = await tenant.client.post("/api/channels", json=body)
    assert added.status_code == 200, added.text
    return added.json()["channel"]["id"], bot_token, added.json()["inbound_secret"]


def update(chat_id: int, text: str | None = "Hi, are you open today?", **message: Any) -> dict[str, Any]:
    """An update as Telegram posts it (https://core.telegram.org/bots/api#update)."""
    body = {"message_id": 7, "date": 1764770000, "chat": {"id": chat_id, "type": "private"}, **message}
    if text is not None:
        body["text"] = text
    return {"update_id": next(updates), "message": body}


async def post(tenant: Tenant, channel_id: int, body: dict[str, Any], secret: str | None) -> Any:
    headers = {SECRET_HEADER: secret} if secret is not None else {}
    return await tenant.client.post(f"/channels/{channel_id}/telegram", json=body, headers=headers)


async def test_a_message_from_telegram_is_answered_in_the_same_chat(
    tenant: Tenant, stub_model: StubModel, telegram_api: TelegramApi, db: async_sessionmaker[AsyncSession]
) -> None:
    channel_id, bot_token, secret = await connect(tenant)
    stub_model.enqueue("Yes, until 6 pm.")
    acknowledged = await post(tenant, channel_id, update(4242), secret)
    assert (acknowledged.status_code, acknowledged.json()) == (200, {"ok": True})

    await eventually(lambda: len(telegram_api.to(bot_token)) == 1)
    assert telegram_api.to(bot_token) == [{"chat_id": "4242", "text": "Yes, until 6 pm."}]
    async with db() as session:
        conversation = await session.scalar(select(Conversation).where(Conversation.channel_id == channel_id))
        assert conversation is not None and conversation.customer_identifier == "4242"
        said = (
            await session.scalars(
                select(Message.content).where(Message.conversation_id == conversation.id).order_by(Message.id)
            )
        ).all()
    assert said == ["Hi, are you open today?", "Yes, until 6 pm."]
    assert telegram_api.malformed == 0


@pytest.mark.parametrize("secret", [None, "", "wrong"])
async def test_a_wrong_or_missing_secret_token_is_refused_and_nothing_is_kept(
    tenant: Tenant, stub_model: StubModel, db: async_sessionmaker[AsyncSession], secret: str | None
) -> None:
    channel_id, _, _ = await connect(tenant)
    refused = await post(tenant, channel_id, update(4243), secret)
    assert "X-Telegram-Bot-Api-Secret-Token" in assert_error(refused, 401, "UNAUTHENTICATED")["error"]
    assert await count(db, ChannelInbound, ChannelInbound.channel_id == channel_id) == 0
    assert await count(db, Conversation, Conversation.account_id == tenant.account_id) == 0
    assert stub_model.requests == []


async def test_an_unknown_channel_is_not_found(tenant: Tenant) -> None:
    assert_error(await post(tenant, 999999, update(1), "x"), 404, "NOT_FOUND")


async def test_telegrams_retry_of_an_update_is_answered_once_and_charged_once(
    tenant: Tenant, stub_model: StubModel, telegram_api: TelegramApi, db: async_sessionmaker[AsyncSession]
) -> None:
    channel_id, bot_token, secret = await connect(tenant)
    stub_model.enqueue("Once.", "Twice?")
    body = update(4244)
    for _ in range(3):
        assert (await post(tenant, channel_id, body, secret)).status_code == 200
    await eventually(lambda: len(telegram_api.to(bot_token)) == 1)
    await eventually(lambda: answered_one(db, channel_id))
    assert await count(db, ChannelInbound, ChannelInbound.channel_id == channel_id) == 1
    assert len(stub_model.requests) == 1
    assert await count(db, LedgerEntry, LedgerEntry.account_id == tenant.account_id, LedgerEntry.kind == "reply") == 1
    assert [m["text"] for m in telegram_api.to(bot_token)] == ["Once."]


async def test_a_photo_is_kept_as_a_placeholder_with_its_caption(
    tenant: Tenant, stub_model: StubModel, telegram_api: TelegramApi
) -> None:
    channel_id, bot_token, secret = await connect(tenant)
    stub_model.enqueue("Nice picture.")
    photo = update(4245, None, photo=[{"file_id": "x", "width": 90, "height": 90}], caption="my broken lamp")
    assert (await post(tenant, channel_id, photo, secret)).status_code == 200
    await eventually(lambda: len(telegram_api.to(bot_token)) == 1)
    assert stub_model.requests[0]["messages"][-1]["content"] == "[photo] my broken lamp"


async def test_a_human_agents_message_goes_out_on_the_channel(
    tenant: Tenant, stub_model: StubModel, telegram_api: TelegramApi
) -> None:
    channel_id, bot_token, secret = await connect(tenant)
    stub_model.enqueue("Let me check.")
    assert (await post(tenant, channel_id, update(4246), secret)).status_code == 200
    await eventually(lambda: len(telegram_api.to(bot_token)) == 1)
    [listed] = (await tenant.client.get("/api/user/conversations")).json()["data"]
    path = f"/api/conversations/{listed['id']}/agent-messages"
    assert (await tenant.client.post(path, json={"message": "Anna here: it is in stock."})).status_code == 200
    await eventually(lambda: len(telegram_api.to(bot_token)) == 2)
    assert [m["text"] for m in telegram_api.to(bot_token)] == ["Let me check.", "Anna here: it is in stock."]


async def test_telegram_failing_for_a_while_delays_the_message_as_it_asks_and_it_goes_out_once(
    tenant: Tenant, stub_model: StubModel, telegram_api: TelegramApi
) -> None:
    channel_id, bot_token, secret = await connect(tenant)
    stub_model.enqueue("Here it comes.")
    telegram_api.statuses.extend([502, 429])
    assert (await post(tenant, channel_id, update(4247), secret)).status_code == 200
    await eventually(lambda: len(telegram_api.to(bot_token)) == 1)
    tried = [body["text"] for token, body in telegram_api.attempts if token == bot_token]
    assert tried == ["Here it comes."] * 3
    assert telegram_api.to(bot_token) == [{"chat_id": "4247", "text": "Here it comes."}]
    timed = zip(telegram_api.attempts, telegram_api.attempted_at, strict=False)  # another may be half noted
    times = [at for (token, _), at in timed if token == bot_token]
    assert times[2] - times[1] >= 0.9  # the 429 said retry_after 1; the schedule alone waits 0.2 s


async def test_a_message_kept_by_a_process_that_stopped_before_answering_is_answered_by_the_sweep(
    tenant: Tenant, stub_model: StubModel, telegram_api: TelegramApi, db: async_sessionmaker[AsyncSession]
) -> None:
    """What a process killed right after acknowledging an update leaves: the message kept, no answer."""
    channel_id, bot_token, _ = await connect(tenant)
    stub_model.enqueue("Sorry for the wait.")
    async with db() as session, session.begin():
        kept = await keep_inbound(session, channel_id, str(next(updates)), "4248", "Anyone there?")
        await session.execute(
            update_table(ChannelInbound)
            .where(ChannelInbound.id == kept)
            .values(received_at=utcnow() - timedelta(minutes=1))
        )

    await eventually(lambda: len(telegram_api.to(bot_token)) == 1)  # a sweep every 5 s
    assert telegram_api.to(bot_token) == [{"chat_id": "4248", "text": "Sorry for the wait."}]
    async with db() as session:
        row = await session.get(ChannelInbound, kept)
    assert row is not None and row.answered_at is not None and row.error is None
