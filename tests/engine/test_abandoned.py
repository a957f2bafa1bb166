"""A reply whose process died leaves its customer's message pending, holding part of the
balance. The sweep gives the hold back and marks the message failed, once no reply of its
conversation is in progress; erasing the conversation or its assistant gives it back too."""

import asyncio
import threading
import uuid
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from replyd.engine.receive import INTERRUPTED
from replyd.store import accounts, conversations
from replyd.store.tables import Account, Message
from tests.conftest import Tenant
from tests.servers import Scripted, StubModel, eventually

HELD = 50_000


async def left_by_a_dead_process(db: async_sessionmaker[AsyncSession], tenant: Tenant, customer: str) -> int:
    """What a process killed while its model thought leaves behind: the conversation, the
    customer's message pending, and the most the reply may cost held of the balance."""
    async with db() as session, session.begin():
        conversation = await conversations.create_conversation(
            session,
            str(uuid.uuid4()),
            account_id=tenant.account_id,
            assistant_id=tenant.assistant_id,
            customer_identifier=customer,
            type="api",
            variables={},
        )
        assert await accounts.reserve(session, tenant.account_id, HELD)
        return await conversations.add_message(
            session,
            conversation.id,
            author="customer",
            content="Where is my parcel?",
            reply_status="pending",
            reserved_micros=HELD,
        )


async def held(db: async_sessionmaker[AsyncSession], account_id: int) -> int:
    async with db() as session:
        reserved = await session.scalar(select(Account.reserved_micros).where(Account.id == account_id))
    return int(reserved or 0)


async def status_of(db: async_sessionmaker[AsyncSession], message_id: int) -> tuple[str | None, str | None, int]:
    async with db() as session:
        row = (
            await session.execute(
                select(Message.reply_status, Message.reply_error, Message.reserved_micros).where(
                    Message.id == message_id
                )
            )
        ).one()
    return row[0], row[1], row[2]


async def test_the_sweep_gives_back_what_a_dead_process_held_and_the_retry_is_still_answered(
    start_server: Callable[..., AbstractContextManager[str]],
    make_tenant: Callable[..., Any],
    db: async_sessionmaker[AsyncSession],
    snapshot: Any,
) -> None:
    with start_server(abandoned_reply_s=0.4) as url:
        tenant: Tenant = await make_tenant(base_url=url)
        before = await snapshot(tenant.account_id)
        message_id = await left_by_a_dead_process(db, tenant, "c-dead")
        assert await held(db, tenant.account_id) == HELD

        async def swept() -> bool:
            return (await status_of(db, message_id))[0] == "failed"

        await eventually(swept)
        assert await status_of(db, message_id) == ("failed", INTERRUPTED, 0)
        assert await held(db, tenant.account_id) == 0
        after = await snapshot(tenant.account_id)
        assert after.balance_micros == before.balance_micros == after.ledger_sum_micros  # nothing charged

        retry = await tenant.reply("Where is my parcel?", customer="c-dead")
        assert retry.status_code == 200
        assert await status_of(db, message_id) == ("answered", None, 0)
        assert (await snapshot(tenant.account_id)).messages == after.messages + 1  # the reply, not a second question


async def test_a_slow_reply_is_never_swept_however_long_its_model_thinks(
    start_server: Callable[..., AbstractContextManager[str]],
    make_tenant: Callable[..., Any],
    db: async_sessionmaker[AsyncSession],
    stub_model: StubModel,
    snapshot: Any,
) -> None:
    gate = threading.Event()
    stub_model.enqueue(Scripted(text="It left the warehouse today.", gate=gate))
    with start_server(abandoned_reply_s=0.2) as url:
        tenant: Tenant = await make_tenant(base_url=url)
        reply = asyncio.create_task(tenant.reply("Where is my parcel?", customer="c-slow"))
        try:
            await asyncio.to_thread(stub_model.wait_for_request)
            await asyncio.sleep(1.0)  # five times the age at which a message counts as abandoned
            listed = await tenant.client.get("/api/user/conversations", params={"external_identifier": "c-slow"})
            conversation = await tenant.client.get(f"/api/conversations/{listed.json()['data'][0]['id']}")
            assert [m["reply_status"] for m in conversation.json()["history"]] == ["pending"]
            assert await held(db, tenant.account_id) > 0
        finally:
            gate.set()
        assert (await reply).status_code == 200
        assert await held(db, tenant.account_id) == 0
        after = await snapshot(tenant.account_id)
        assert after.ledger_entries == 2 and after.balance_micros == after.ledger_sum_micros  # top-up, one charge


async def test_erasing_a_conversation_gives_back_what_its_dead_reply_held(
    tenant: Tenant, db: async_sessionmaker[AsyncSession]
) -> None:
    message_id = await left_by_a_dead_process(db, tenant, "c-erase")
    listed = await tenant.client.get("/api/user/conversations", params={"external_identifier": "c-erase"})
    conversation_id = listed.json()["data"][0]["id"]
    assert (await tenant.client.delete(f"/api/conversations/{conversation_id}")).status_code == 200
    assert await held(db, tenant.account_id) == 0
    async with db() as session:
        assert await session.get(Message, message_id) is None


async def test_deleting_an_assistant_gives_back_what_its_conversations_held(
    tenant: Tenant, db: async_sessionmaker[AsyncSession]
) -> None:
    await left_by_a_dead_process(db, tenant, "c-one")
    await left_by_a_dead_process(db, tenant, "c-two")
    assert await held(db, tenant.account_id) == 2 * HELD
    deleted = await tenant.client.delete(f"/api/assistants/{tenant.assistant_id}", params={"force": "true"})
    assert deleted.status_code == 200
    assert await held(db, tenant.account_id) == 0
