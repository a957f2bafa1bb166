"""A Telegram channel through a crash, with real ``replyd serve`` processes on a database of the
test's own: a process killed after it acknowledged an update, while the model was still
thinking, leaves the message kept; another process's sweep answers it, once, charged once."""

import asyncio
import threading

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from replyd.store.channels import ChannelInbound
from replyd.store.events import Event
from replyd.store.tables import LedgerEntry
from tests.channels import process_settings
from tests.channels.test_telegram import connect, post, update
from tests.events.test_delivery_faults import Launch, TenantOf
from tests.events.test_delivery_faults import launch as launch  # noqa: F401  (the fixture)
from tests.events.test_delivery_faults import own_database as own_database  # noqa: F401  (the fixture)
from tests.events.test_delivery_faults import own_sessions as own_sessions  # noqa: F401  (the fixture)
from tests.events.test_delivery_faults import tenant_of as tenant_of  # noqa: F401  (the fixture)
from tests.servers import Scripted, StubModel, TelegramApi, eventually


async def test_a_process_killed_before_it_answered_leaves_the_message_to_another_which_answers_once(
    launch: Launch,
    tenant_of: TenantOf,
    own_sessions: async_sessionmaker[AsyncSession],
    stub_model: StubModel,
    telegram_api: TelegramApi,
) -> None:
    settings = process_settings(stub_model, telegram_api_url=telegram_api.base_url, channel_answer_after_s=1)
    first = await launch("first", **settings)
    tenant = await tenant_of(first)
    channel_id, bot_token, secret = await connect(tenant)
    never = threading.Event()
    stub_model.enqueue(Scripted(text="never said", gate=never), "Here I am.")
    try:
        assert (await post(tenant, channel_id, update(5151), secret)).status_code == 200
        await asyncio.to_thread(stub_model.wait_for_request)  # the first process is thinking
        await asyncio.to_thread(first.kill)
    finally:
        never.set()

    second = await launch("second", **settings)
    assert second.url  # it serves; its sweep finds the message once the first's claim on it runs out
    await eventually(lambda: len(telegram_api.to(bot_token)) == 1, timeout_s=60)
    assert telegram_api.to(bot_token) == [{"chat_id": "5151", "text": "Here I am."}]

    async def answered() -> bool:
        async with own_sessions() as session:
            row = await session.scalar(select(ChannelInbound).where(ChannelInbound.channel_id == channel_id))
        return row is not None and row.answered_at is not None

    await eventually(answered)  # no sweep asks again from now on
    async with own_sessions() as session:
        charges = await session.scalar(
            select(func.count()).where(LedgerEntry.account_id == tenant.account_id, LedgerEntry.kind == "reply")
        )
        outgoing = await session.scalar(
            select(func.count()).where(Event.account_id == tenant.account_id, Event.type == "channel.outgoing")
        )
    assert (charges, outgoing) == (1, 1)  # answered, charged and sent once
