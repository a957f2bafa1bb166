"""A customer's right to erasure through the API: every conversation of theirs in the account
(every assistant, the API's and a channel's), with everything that held their words or their
identifier, is gone; the ledger keeps the money without naming them."""

import hmac
import secrets
import uuid
from typing import Any

from sqlalchemy import inspect, select, text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from replyd.store.tables import Account, LedgerEntry
from tests.api.test_errors import assert_error
from tests.api.test_widget import SHOP, Page, opened
from tests.channels.test_telegram import post, update
from tests.conftest import STUB_MODEL, Tenant
from tests.events.test_events import subscribe
from tests.servers import EventReceiver, StubModel, TelegramApi, eventually


async def rows_holding(db: async_sessionmaker[AsyncSession], *needles: str) -> list[str]:
    """Every row of every table (as the database has them, not as replyd maps them) in which one
    of ``needles`` appears, as ``table: row``."""
    found = []
    async with db() as session:
        connection = await session.connection()
        tables = await connection.run_sync(lambda sync: inspect(sync).get_table_names())
        for table in tables:
            for row in (await session.execute(text(f'SELECT * FROM "{table}"'))).all():
                shown = repr(tuple(row))
                found += [f"{table}: {shown}" for needle in needles if needle in shown]
    return found


async def telegram_channel(tenant: Tenant, assistant_id: int) -> tuple[int, str, str]:
    bot_token = f"{secrets.randbelow(10**9)}:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
    body = {"assistant_id": assistant_id, "kind": "telegram", "credentials": {"bot_token": bot_token}}
    added = await tenant.client.post("/api/channels", json=body)
    assert added.status_code == 200, added.text
    return added.json()["channel"]["id"], bot_token, added.json()["inbound_secret"]


async def test_erasing_a_customer_leaves_nothing_of_them_in_any_table_and_the_ledger_keeps_the_money(
    make_tenant: Any,
    stub_model: StubModel,
    telegram_api: TelegramApi,
    receiver: tuple[EventReceiver, str],
    db: async_sessionmaker[AsyncSession],
    snapshot: Any,
) -> None:
    tenant: Tenant = await make_tenant(reply_fee="0.01")
    await subscribe(tenant, *receiver)  # so that events are written, and delivered
    second = await tenant.client.post("/api/assistants", json={"name": "Second", "model": STUB_MODEL})
    second_id = second.json()["assistant"]["id"]
    chat_id = 10**14 + secrets.randbelow(10**14)  # a Telegram chat id: the customer identifier there
    customer, words, name = str(chat_id), f"words-{uuid.uuid4().hex}", f"name-{uuid.uuid4().hex}"

    stub_model.enqueue(f"Hello {name}, about {words}", "Kept for the other customer", f"On Telegram: {words}")
    asked = await tenant.reply(f"My secret is {words}", customer=customer, variables={"customer_name": name})
    assert asked.status_code == 200, asked.text
    with_key = await tenant.client.post(
        "/api/ai/generate-reply",
        json={"assistant_id": tenant.assistant_id, "customer_identifier": f"other-{uuid.uuid4().hex}", "message": "Hi"},
        headers={"Idempotency-Key": f"kept-{uuid.uuid4().hex}"},
    )
    kept_id = with_key.json()["conversation_id"]
    channel_id, bot_token, secret = await telegram_channel(tenant, second_id)
    acknowledged = await post(tenant, channel_id, update(chat_id, f"Also {words}"), secret)
    assert acknowledged.status_code == 200
    await eventually(lambda: len(telegram_api.to(bot_token)) == 1)
    mine = await tenant.client.get("/api/user/conversations", params={"external_identifier": customer})
    conversation_ids = sorted(c["id"] for c in mine.json()["data"])
    assert len(conversation_ids) == 2
    await eventually(lambda: len(receiver[0].received) >= 8)  # created and two messages, three times
    before = await snapshot(tenant.account_id)

    erased = await tenant.client.delete(f"/api/customers/{customer}")
    assert erased.status_code == 200, erased.text
    body = erased.json()
    assert sorted(body.pop("conversation_ids")) == conversation_ids
    assert body == {"success": True, "customer_identifier": customer, "messages": 4, "ledger_entries_anonymised": 2}

    assert await rows_holding(db, customer, words, name, *conversation_ids) == []
    after = await snapshot(tenant.account_id)
    assert (after.ledger_entries, after.balance_micros, after.ledger_sum_micros) == (
        before.ledger_entries,
        before.balance_micros,
        before.ledger_sum_micros,
    )
    async with db() as session:
        charges = (
            await session.scalars(
                select(LedgerEntry).where(LedgerEntry.account_id == tenant.account_id, LedgerEntry.kind == "reply")
            )
        ).all()
    assert sorted(entry.conversation_id or "" for entry in charges) == ["", "", kept_id]
    assert all(entry.assistant_id and entry.amount_micros < 0 for entry in charges)

    kept = await tenant.client.get(f"/api/conversations/{kept_id}")
    assert [m["content"] for m in kept.json()["history"]] == ["Hi", "Kept for the other customer"]
    again = await tenant.client.delete(f"/api/customers/{customer}")
    assert again.json() | {"success": True} == {
        "success": True,
        "customer_identifier": customer,
        "conversation_ids": [],
        "messages": 0,
        "ledger_entries_anonymised": 0,
    }
    later = await tenant.reply("Back again", customer=customer)
    assert later.json()["conversation_id"] not in conversation_ids  # a new conversation


async def test_an_idempotency_key_answered_in_an_erased_conversation_goes_with_it(
    tenant: Tenant, db: async_sessionmaker[AsyncSession]
) -> None:
    customer, key = f"+49{secrets.randbelow(10**9)}", {"Idempotency-Key": f"order-{uuid.uuid4().hex}"}
    body = {"assistant_id": tenant.assistant_id, "customer_identifier": customer, "message": "Book Friday"}
    first = await tenant.client.post("/api/ai/generate-reply", json=body, headers=key)
    assert await rows_holding(db, key["Idempotency-Key"]) != []
    await tenant.client.delete(f"/api/conversations/{first.json()['conversation_id']}")
    assert await rows_holding(db, key["Idempotency-Key"], customer) == []


async def test_identifiers_with_slashes_are_erased_and_only_admins_may_erase(tenant: Tenant, make_tenant: Any) -> None:
    customer = f"crm/{uuid.uuid4().hex}/contact"
    conversation_id = (await tenant.reply("Hi", customer=customer)).json()["conversation_id"]
    reader = await tenant.client.post("/api/tokens", json={"scope": "replies"})
    as_reader = {"Authorization": f"Bearer {reader.json()['api_token']}"}
    assert_error(await tenant.client.delete(f"/api/customers/{customer}", headers=as_reader), 403, "FORBIDDEN")
    theirs: Tenant = await make_tenant()
    assert (await theirs.client.delete(f"/api/customers/{customer}")).json()["conversation_ids"] == []
    assert (await tenant.client.get(f"/api/conversations/{conversation_id}")).status_code == 200

    erased = await tenant.client.delete(f"/api/customers/{customer.replace('/', '%2F')}")
    assert erased.json()["conversation_ids"] == [conversation_id]
    assert (await tenant.client.get(f"/api/conversations/{conversation_id}")).status_code == 404
    broken = f"line\nbreak {uuid.uuid4().hex}"  # generate-reply takes it, so erasure must too
    await tenant.reply("Hi", customer=broken)
    erased_broken = await tenant.client.delete(f"/api/customers/{broken.replace(chr(10), '%0A')}")
    assert len(erased_broken.json()["conversation_ids"]) == 1
    assert_error(await tenant.client.delete("/api/customers/%20"), 422, "VALIDATION_ERROR")
    assert_error(await tenant.client.delete(f"/api/customers/{'x' * 256}"), 422, "VALIDATION_ERROR")


async def test_deleting_an_assistant_with_its_conversations_erases_them_by_the_same_rules(
    tenant: Tenant, db: async_sessionmaker[AsyncSession]
) -> None:
    made = await tenant.client.post("/api/assistants", json={"name": "Gone soon", "model": STUB_MODEL})
    assistant_id, customer = made.json()["assistant"]["id"], f"cust-{uuid.uuid4().hex}"
    key = {"Idempotency-Key": f"key-{uuid.uuid4().hex}"}
    body = {"assistant_id": assistant_id, "customer_identifier": customer, "message": "Hi"}
    conversation_id = (await tenant.client.post("/api/ai/generate-reply", json=body, headers=key)).json()[
        "conversation_id"
    ]
    deleted = await tenant.client.delete(f"/api/assistants/{assistant_id}", params={"force": "true"})
    assert deleted.status_code == 200
    assert await rows_holding(db, customer, key["Idempotency-Key"], conversation_id) == []


async def test_a_signed_in_widget_visitor_is_erased_and_their_page_starts_afresh(
    tenant: Tenant, make_widget: Any, db: async_sessionmaker[AsyncSession]
) -> None:
    page = Page(tenant.client, await make_widget(tenant, [SHOP]))
    user_id, words = f"user-{uuid.uuid4().hex}", f"words-{uuid.uuid4().hex}"
    async with db() as session:
        secret = await session.scalar(select(Account.widget_secret).where(Account.id == tenant.account_id))
    assert secret
    identity = {"user_id": user_id, "user_hash": hmac.new(secret.encode(), user_id.encode(), "sha256").hexdigest()}
    visit = await opened(page, **identity)
    assert (await page.send(visit, f"My secret is {words}")).status_code == 200

    erased = await tenant.client.delete(f"/api/customers/{user_id}")
    assert erased.json()["conversation_ids"] == [visit["conversation_id"]]
    assert await rows_holding(db, user_id, words, visit["conversation_id"]) == []
    assert (await page.history(visit)).status_code == 404
    again = await opened(page, **identity)
    assert again["conversation_id"] != visit["conversation_id"]
