"""Migrations on a database holding data an older replyd wrote."""

import asyncio
import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from sqlalchemy import inspect, text
from standardwebhooks import Webhook

from replyd.clock import utcnow
from replyd.functions.signing import new_message_id, new_webhook_secret, signature_headers
from replyd.services.assistant_config import AssistantConfig
from replyd.store import accounts, channels, conversations, events, ledger
from replyd.store.assistants import create_assistant
from replyd.store.migrate import alembic_config, upgrade_database
from replyd.store.session import create_engine, session_factory
from tests.conftest import RUN_PREFIX, STUB_MODEL, empty_database, sessions_on

BODY = b'{"function":"book"}'


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    """An empty database of this test's own, not the run's migrated one."""
    with empty_database(tmp_path, RUN_PREFIX.replace("-", "_") + "_migrations") as url:
        yield url


def old_secret(key: bytes) -> str:
    """A secret as replyd made them before Standard Webhooks: url-safe base64, unpadded."""
    return "whsec_" + base64.urlsafe_b64encode(key).decode().rstrip("=")


def test_url_safe_secrets_are_spelled_in_standard_base64_with_the_same_key(database_url: str) -> None:
    dashed, plain = old_secret(b"\xfb\xff" * 16), old_secret(b"replyd-webhook-key-of-32-bytes!!")
    assert {"-", "_"} <= set(dashed[6:]) and not {"-", "_"} & set(plain[6:])
    upgrade_database(database_url, "0008")
    for name, secret in [("dashed", dashed), ("plain", plain), ("empty", "whsec_")]:
        asyncio.run(run(database_url, INSERT_ACCOUNT, {"name": name, "secret": secret, "now": utcnow()}))
    upgrade_database(database_url)

    rows = asyncio.run(run(database_url, "SELECT name, webhook_secret, previous_webhook_secret FROM accounts"))
    secrets = {name: secret for name, secret, previous in rows if previous is None}
    assert secrets["dashed"] == "whsec_" + base64.b64encode(b"\xfb\xff" * 16).decode()
    assert secrets["plain"] == plain
    assert len(base64.b64decode(secrets["empty"].removeprefix("whsec_"), validate=True)) == 32
    receivers_copy = "whsec_" + dashed.removeprefix("whsec_").replace("-", "+").replace("_", "/")
    for secret, receiver in [(secrets["dashed"], receivers_copy), (plain, plain)]:
        Webhook(receiver).verify(BODY, signature_headers(BODY, new_message_id(), utcnow(), [secret]))


def test_message_counts_are_backfilled_from_the_messages_stored_before(database_url: str) -> None:
    upgrade_database(database_url)
    talked, quiet = asyncio.run(seed_conversations(database_url, [5, 0, 7], []))
    command.downgrade(alembic_config(database_url), "0017")
    upgrade_database(database_url)
    rows = asyncio.run(run(database_url, "SELECT id, message_count, total_cost_micros FROM conversations"))
    assert {conversation_id: (count, cost) for conversation_id, count, cost in rows} == {talked: (3, 12), quiet: (0, 0)}


async def seed_conversations(database_url: str, *costs_per_conversation: list[int]) -> list[str]:
    """An account and assistant with a conversation for each list of message costs; their ids."""
    config = AssistantConfig.model_validate({"name": "Old", "model": STUB_MODEL})
    async with sessions_on(database_url) as sessions, sessions() as session, session.begin():
        account = await accounts.create_account(session, "old", 0, new_webhook_secret())
        assistant = await create_assistant(session, account.id, config.to_columns())
        ids = []
        for n, costs in enumerate(costs_per_conversation):
            started = await conversations.insert_conversation(session, account.id, assistant.id, f"c{n}", {})
            for cost in costs:
                await conversations.add_message(session, started.id, author="ai", content="-", cost_micros=cost)
            ids.append(started.id)
        return ids


def test_messages_and_charges_keep_their_conversation_through_0029_and_back(database_url: str) -> None:
    upgrade_database(database_url)
    first, second = asyncio.run(seed_conversations(database_url, [5, 7], [3]))
    asyncio.run(charge(database_url, first))
    command.downgrade(alembic_config(database_url), "0028")

    by_id = "SELECT conversation_id, count(*) FROM messages GROUP BY conversation_id"
    assert sorted(asyncio.run(run(database_url, by_id))) == sorted([(first, 2), (second, 1)])
    charged = "SELECT conversation_id FROM ledger_entries WHERE kind = 'reply'"
    assert asyncio.run(run(database_url, charged)) == [(first,)]
    upgrade_database(database_url)

    numbers = dict(asyncio.run(run(database_url, "SELECT id, number FROM conversations")))
    assert sorted(numbers.values()) == [1, 2]
    assert asyncio.run(numbered_messages(database_url, first)) == [(first, 5), (first, 7)]
    assert asyncio.run(numbered_messages(database_url, second)) == [(second, 3)]
    assert asyncio.run(run(database_url, charged.replace("conversation_id", "conversation_number"))) == [
        (numbers[first],)
    ]
    [third] = asyncio.run(seed_conversations(database_url, [1]))
    assert asyncio.run(run(database_url, f"SELECT number FROM conversations WHERE id = '{third}'")) == [(3,)]


def test_0030_keeps_zero_amounts_as_null_on_postgresql_roles_by_author_and_list_ties_by_number(
    database_url: str,
) -> None:
    upgrade_database(database_url)
    [conversation] = asyncio.run(seed_conversations(database_url, [0, 9]))
    asyncio.run(add_messages(database_url, conversation, ["customer", "agent"]))
    stored = "SELECT cost_micros, reserved_micros, prompt_tokens FROM messages ORDER BY id"
    zero = None if database_url.startswith("postgresql") else 0
    assert asyncio.run(run(database_url, stored)) == [(zero, zero, zero), (9, zero, zero)] + [(zero, zero, zero)] * 2
    assert asyncio.run(numbered_messages(database_url, conversation)) == [(conversation, c) for c in (0, 9, 0, 0)]
    roles = [("ai", "assistant"), ("ai", "assistant"), ("customer", "user"), ("agent", "assistant")]
    assert asyncio.run(authors_and_roles(database_url, conversation)) == roles
    assert asyncio.run(activity_index_columns(database_url))[-1] == "number"

    command.downgrade(alembic_config(database_url), "0029")
    assert asyncio.run(run(database_url, stored)) == [(0, 0, 0), (9, 0, 0), (0, 0, 0), (0, 0, 0)]
    assert asyncio.run(run(database_url, "SELECT author, role FROM messages ORDER BY id")) == roles
    assert asyncio.run(activity_index_columns(database_url))[-1] == "id"
    upgrade_database(database_url)
    assert asyncio.run(run(database_url, stored)) == [(zero, zero, zero), (9, zero, zero)] + [(zero, zero, zero)] * 2
    assert asyncio.run(authors_and_roles(database_url, conversation)) == roles


async def add_messages(database_url: str, conversation_id: str, authors: list[str]) -> None:
    async with sessions_on(database_url) as sessions, sessions() as session, session.begin():
        for author in authors:
            await conversations.add_message(session, conversation_id, author=author, content=author)


async def authors_and_roles(database_url: str, conversation_id: str) -> list[tuple[str, str]]:
    """The conversation's messages as this replyd reads them: their author, their chat role."""
    async with sessions_on(database_url) as sessions, sessions() as session:
        return [(m.author, m.role) for m in await conversations.all_messages(session, conversation_id)]


async def activity_index_columns(database_url: str) -> list[str | None]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            indexes = await connection.run_sync(lambda sync: inspect(sync).get_indexes("conversations"))
        return next(index["column_names"] for index in indexes if index["name"] == "ix_conversations_account_activity")
    finally:
        await engine.dispose()


async def charge(database_url: str, conversation_id: str) -> None:
    async with sessions_on(database_url) as sessions, sessions() as session, session.begin():
        account_id = int(await session.scalar(text("SELECT min(id) FROM accounts")) or 0)
        await ledger.record(session, account_id, "reply", -1000, assistant_id=1, conversation_id=conversation_id)


async def numbered_messages(database_url: str, conversation_id: str) -> list[tuple[str, int]]:
    """The conversation's messages as this replyd reads them: their conversation, their cost."""
    async with sessions_on(database_url) as sessions, sessions() as session:
        return [(m.conversation_id, m.cost_micros) for m in await conversations.all_messages(session, conversation_id)]


def test_usage_totals_are_added_up_from_the_ledger_per_utc_day_and_assistant(database_url: str) -> None:
    upgrade_database(database_url, "0020")
    asyncio.run(run(database_url, INSERT_ACCOUNT, {"name": "old", "secret": "whsec_", "now": utcnow()}))
    [(account_id,)] = asyncio.run(run(database_url, "SELECT id FROM accounts"))
    late, early = datetime(2026, 11, 25, 23, 59, 59, tzinfo=UTC), datetime(2026, 11, 26, 0, 0, 1, tzinfo=UTC)
    for kind, amount, assistant_id, at in [
        ("top_up", 5_000_000, None, late),
        ("reply", -10_000, 7, late),
        ("reply", -20_000, 7, late),
        ("reply", -40_000, 8, late),
        ("reply", -80_000, 7, early),
    ]:
        entry = {"account": account_id, "kind": kind, "amount": amount, "assistant": assistant_id, "at": at}
        asyncio.run(run(database_url, INSERT_ENTRY, entry))
    upgrade_database(database_url)
    rows = asyncio.run(run(database_url, "SELECT day, assistant_id, replies, spent_micros FROM usage_totals"))
    assert sorted((str(day), *rest) for day, *rest in rows) == [
        ("2026-11-25", 7, 2, 30_000),
        ("2026-11-25", 8, 1, 40_000),
        ("2026-11-26", 7, 1, 80_000),
    ]


def test_messages_stored_before_search_are_found_by_their_words(database_url: str) -> None:
    upgrade_database(database_url)
    old = [("+4901", {}, "My bicycle has a flat tyre"), ("+4902", {}, "Where is my parcel?")]
    asyncio.run(seed_searchable(database_url, old))
    command.downgrade(alembic_config(database_url), "0022")
    upgrade_database(database_url)
    assert searched(database_url, "tyre") == ["+4901"] and searched(database_url, "PARCEL") == ["+4902"]
    command.downgrade(alembic_config(database_url), "0022")
    upgrade_database(database_url)
    assert searched(database_url, "bicycle") == ["+4901"]


def test_conversations_stored_before_trigrams_are_found_by_a_piece_and_the_index_goes_down(database_url: str) -> None:
    upgrade_database(database_url)
    old = [("+4915550001", {"order": "A-77812"}, None), ("+4915550002", {"city": "Köln"}, None)]
    asyncio.run(seed_searchable(database_url, old))
    command.downgrade(alembic_config(database_url), "0024")
    upgrade_database(database_url)
    assert searched(database_url, "55500") == ["+4915550002", "+4915550001"]
    assert searched(database_url, "a-778") == ["+4915550001"] and searched(database_url, "KÖLN") == ["+4915550002"]
    command.downgrade(alembic_config(database_url), "0025")
    postgresql = database_url.startswith("postgresql")
    assert asyncio.run(run(database_url, PG_TRIGRAMS if postgresql else SQLITE_TRIGRAMS)) == []
    upgrade_database(database_url)
    assert searched(database_url, "0002") == ["+4915550002"]


def test_the_full_text_index_is_rebuilt_without_lengths_on_sqlite_and_finds_what_it_found(database_url: str) -> None:
    upgrade_database(database_url)
    asyncio.run(seed_searchable(database_url, [("+4901", {}, "My bicycle has a flat tyre"), ("+4902", {}, "Parcel?")]))
    command.downgrade(alembic_config(database_url), "0027")
    upgrade_database(database_url)
    sizes = "SELECT name FROM sqlite_master WHERE name = 'messages_fts_docsize'"
    sqlite = database_url.startswith("sqlite")

    assert searched(database_url, "tyre") == ["+4901"] and searched(database_url, "parcel") == ["+4902"]
    assert not sqlite or asyncio.run(run(database_url, sizes)) == []
    command.downgrade(alembic_config(database_url), "0027")
    assert not sqlite or asyncio.run(run(database_url, sizes)) == [("messages_fts_docsize",)]
    if sqlite:  # this replyd's search reads 0029's conversation numbers: asked directly
        found = "SELECT content FROM messages WHERE id IN (SELECT rowid FROM messages_fts('bicycle'))"
        assert asyncio.run(run(database_url, found)) == [("My bicycle has a flat tyre",)]


async def seed_searchable(database_url: str, customers: list[tuple[str, dict[str, Any], str | None]]) -> None:
    """An account and assistant with a conversation per customer: its variables and, if given, a message."""
    config = AssistantConfig.model_validate({"name": "Old", "model": STUB_MODEL})
    async with sessions_on(database_url) as sessions, sessions() as session, session.begin():
        account = await accounts.create_account(session, "old", 0, new_webhook_secret())
        assistant = await create_assistant(session, account.id, config.to_columns())
        for customer, variables, words in customers:
            started = await conversations.insert_conversation(session, account.id, assistant.id, customer, variables)
            if words is not None:
                await conversations.add_message(session, started.id, author="customer", content=words)


def searched(database_url: str, text: str) -> list[str | None]:
    """The customers of the conversations a search of every account finds, newest first."""

    async def search() -> list[str | None]:
        async with sessions_on(database_url) as sessions, sessions() as session:
            where = conversations.ConversationFilter(search=text)
            found = await conversations.list_conversations(session, None, where, 10)
        return [row.conversation.customer_identifier for row in found]

    return asyncio.run(search())


SQLITE_TRIGRAMS = """SELECT name FROM sqlite_master WHERE name IN ('conversation_search', 'conversation_search_text',
                     'conversations_search_insert', 'conversations_search_update', 'conversations_search_delete',
                     'messages_fts_terms')"""
PG_TRIGRAMS = """SELECT tablename FROM pg_tables WHERE tablename = 'conversation_search_text'
                 UNION ALL SELECT proname FROM pg_proc
                 WHERE proname IN ('replyd_search_text', 'replyd_keep_search_text')
                 UNION ALL SELECT tgname FROM pg_trigger WHERE tgname LIKE 'conversations_search_%'"""


INSERT_ENTRY = """INSERT INTO ledger_entries (account_id, kind, amount_micros, assistant_id, prompt_tokens,
                                             completion_tokens, created_at)
                  VALUES (:account, :kind, :amount, :assistant, 0, 0, :at)"""
INSERT_ACCOUNT = """INSERT INTO accounts (name, currency, balance_micros, webhook_secret, created_at)
                    VALUES (:name, 'EUR', 0, :secret, :now)"""


async def run(database_url: str, statement: str, values: dict[str, Any] | None = None) -> list[Any]:
    engine = create_engine(database_url)
    try:
        async with engine.begin() as connection:
            result = await connection.execute(text(statement), values or {})
            return list(result.all()) if result.returns_rows else []
    finally:
        await engine.dispose()


def test_twilio_channels_added_before_they_could_send_get_their_sending_endpoint(database_url: str) -> None:
    upgrade_database(database_url, "0014")
    made = asyncio.run(channels_of_an_older_replyd(database_url))
    upgrade_database(database_url)

    endpoints = asyncio.run(run(database_url, "SELECT channel_id, url, event_types, enabled FROM event_endpoints"))
    by_channel = {row[0]: row[1:] for row in endpoints}
    assert len(endpoints) == len(by_channel) == 2  # the Twilio channel's new one, the Telegram channel's old one
    url, types, enabled = by_channel[made["twilio"]]
    assert (url, json.loads(types) if isinstance(types, str) else types, bool(enabled)) == (
        f"channel:{made['twilio']}",
        ["channel.outgoing"],
        True,
    )
    statuses = asyncio.run(run(database_url, "SELECT platform_message_id, status FROM channel_message_status"))
    assert statuses == [("wamid.kept", "delivered")]


async def channels_of_an_older_replyd(database_url: str) -> dict[str, int]:
    """A Twilio and a Telegram channel as 0014 left them (only Telegram's with its endpoint), and
    a WhatsApp message's status; the ids of the channels by kind."""
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session, session.begin():
            values = {"name": "old", "secret": new_webhook_secret(), "now": utcnow()}
            await session.execute(text(INSERT_ACCOUNT), values)  # as 0014's table is: later ones add columns
            account_id = int(await session.scalar(text("SELECT max(id) FROM accounts")) or 0)
            config = AssistantConfig.model_validate({"name": "Old", "model": "openai:stub-model"})
            assistant = await create_assistant(session, account_id, config.to_columns())
            made = {}
            for kind in ("twilio", "telegram"):
                made[kind] = (await channels.create_channel(session, account_id, assistant.id, kind, "sealed", None)).id
            await events.create_endpoint(session, account_id, "channel:x", ["channel.outgoing"], "", made["telegram"])
            await session.execute(
                text(
                    "INSERT INTO channel_message_status (channel_id, platform_message_id, message_id, status, "
                    "updated_at) VALUES (:channel, 'wamid.kept', 1, 'delivered', :now)"
                ),
                {"channel": made["telegram"], "now": utcnow()},
            )
            return made
    finally:
        await engine.dispose()


def test_idempotency_keys_learn_the_conversation_their_stored_answer_was_given_in(database_url: str) -> None:
    upgrade_database(database_url, "0021")
    asyncio.run(run(database_url, INSERT_ACCOUNT, {"name": "old", "secret": "whsec_", "now": utcnow()}))
    [(account_id,)] = asyncio.run(run(database_url, "SELECT id FROM accounts"))
    answer = {"conversation_id": "5b0f6c1e-3f7a-4e0b-9a43-2d7f4c1f9e21", "reply": "Booked.", "ai_disabled": False}
    for key, status, response in [("answered", 200, json.dumps(answer)), ("running", None, None)]:
        values = {"account": account_id, "key": key, "status": status, "response": response, "now": utcnow()}
        asyncio.run(run(database_url, INSERT_KEY, values))
    upgrade_database(database_url)
    rows = asyncio.run(run(database_url, "SELECT key, conversation_id FROM idempotency_keys"))
    assert sorted(rows) == [("answered", answer["conversation_id"]), ("running", None)]


INSERT_KEY = """INSERT INTO idempotency_keys (account_id, key, request_sha256, status_code, response, created_at)
                VALUES (:account, :key, '-', :status, :response, :now)"""


def test_read_marks_come_with_0025_and_go_with_its_downgrade_leaving_the_conversations(database_url: str) -> None:
    upgrade_database(database_url)
    [conversation_id] = asyncio.run(seed_conversations(database_url, [0]))
    asyncio.run(run(database_url, INSERT_TOKEN, {"now": utcnow()}))
    [(token_id,)] = asyncio.run(run(database_url, "SELECT id FROM api_tokens"))
    mark = {"conversation": conversation_id, "token": token_id}
    asyncio.run(run(database_url, "INSERT INTO conversation_reads VALUES (:conversation, :token, 1)", mark))

    command.downgrade(alembic_config(database_url), "0024")

    assert "conversation_reads" not in asyncio.run(table_names(database_url))
    assert asyncio.run(run(database_url, "SELECT id FROM conversations")) == [(conversation_id,)]
    upgrade_database(database_url)
    assert asyncio.run(run(database_url, "SELECT count(*) FROM conversation_reads")) == [(0,)]


INSERT_TOKEN = """INSERT INTO api_tokens (account_id, token_sha256, prefix, scope, created_at)
                  VALUES ((SELECT id FROM accounts), 'sha', 'rpd_', 'operator', :now)"""


async def table_names(database_url: str) -> list[str]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(lambda sync: inspect(sync).get_table_names())
    finally:
        await engine.dispose()


def test_sqlite_keeps_times_as_integers_from_0027_and_as_text_before_it(database_url: str) -> None:
    if not database_url.startswith("sqlite"):
        pytest.skip("PostgreSQL keeps timestamptz: 0027 leaves its times alone")
    upgrade_database(database_url)
    [conversation_id] = asyncio.run(seed_conversations(database_url, [5]))
    written = asyncio.run(message_time(database_url, conversation_id))
    as_integer = (written - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(microseconds=1)
    stored = "SELECT typeof(created_at), created_at FROM messages"

    assert asyncio.run(run(database_url, stored)) == [("integer", as_integer)]
    command.downgrade(alembic_config(database_url), "0026")
    assert asyncio.run(run(database_url, stored)) == [("text", written.strftime("%Y-%m-%d %H:%M:%S.%f"))]
    upgrade_database(database_url)
    assert asyncio.run(run(database_url, stored)) == [("integer", as_integer)]
    assert asyncio.run(message_time(database_url, conversation_id)) == written


async def message_time(database_url: str, conversation_id: str) -> datetime:
    async with sessions_on(database_url) as sessions, sessions() as session:
        [turn] = await conversations.recent_turns(session, conversation_id, 1)
        return (await conversations.get_message(session, turn.id)).created_at


def test_0031_keeps_every_event_delivery_and_attempt_and_fans_out_what_waited(database_url: str) -> None:
    """SQLite makes the events table again to drop its public id's uniqueness: with foreign
    keys enforced, dropping the old table would have deleted its deliveries and their attempts."""
    upgrade_database(database_url, "0030")
    asyncio.run(outbox_of_an_older_replyd(database_url))
    counted = (
        "SELECT (SELECT count(*) FROM events), (SELECT count(*) FROM deliveries), "
        "(SELECT count(*) FROM delivery_attempts)"
    )
    assert asyncio.run(run(database_url, counted)) == [(3, 2, 1)]

    upgrade_database(database_url)
    assert asyncio.run(run(database_url, counted)) == [(3, 2, 1)]
    assert not any(c["column_names"] == ["public_id"] for c in asyncio.run(unique_constraints(database_url, "events")))
    assert asyncio.run(fan_out(database_url)) == 1  # the event 0030 left waiting
    assert asyncio.run(run(database_url, counted)) == [(3, 3, 1)]

    command.downgrade(alembic_config(database_url), "0030")
    assert asyncio.run(run(database_url, counted)) == [(3, 3, 1)]
    assert any(c["column_names"] == ["public_id"] for c in asyncio.run(unique_constraints(database_url, "events")))
    upgrade_database(database_url)
    assert asyncio.run(run(database_url, counted)) == [(3, 3, 1)]


async def outbox_of_an_older_replyd(database_url: str) -> None:
    """An account's endpoint with two events fanned out (one attempted) and one waiting."""
    async with sessions_on(database_url) as sessions, sessions() as session, session.begin():
        account = await accounts.create_account(session, "old", 0, new_webhook_secret())
        await events.create_endpoint(session, account.id, "https://example.com/events", [], new_webhook_secret())
        for n in range(2):
            await events.record_events(
                session, [events.event_row(account.id, "message.created", {"n": n}, f"evt_{n}", "c1")]
            )
        await events.fan_out(session, utcnow(), 100)
        [due, _] = await events.claim_due(session, utcnow(), timedelta(seconds=60), 100)
        attempt = events.Attempt(due.delivery_id, utcnow(), 204, 3, "", None, "delivered", 1, utcnow())
        await events.settle(session, [attempt], utcnow())
        await events.record_events(session, [events.event_row(account.id, "message.created", {"n": 2}, "evt_2", "c1")])


async def unique_constraints(database_url: str, table: str) -> list[Any]:
    engine = create_engine(database_url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(lambda sync: inspect(sync).get_unique_constraints(table))
    finally:
        await engine.dispose()


async def fan_out(database_url: str) -> int:
    async with sessions_on(database_url) as sessions, sessions() as session, session.begin():
        return await events.fan_out(session, utcnow(), 100)
