"""What an erasure and the retention sweep read, each on an index of its own (SQLite's plans):
no erasure reads the account's whole ledger, its Idempotency-Keys or its channels' messages,
however many an account has."""

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from replyd.clock import utcnow
from replyd.store import channels, conversations, idempotency, ledger, reads
from replyd.store.migrate import upgrade_database
from tests.conftest import sessions_on
from tests.store.plans import query_plan

CONVERSATION = "5b0f6c1e-3f7a-4e0b-9a43-2d7f4c1f9e21"


async def test_each_statement_of_an_erasure_and_of_the_retention_sweep_reads_its_index(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/erasure.db"
    await asyncio.to_thread(upgrade_database, url)
    expected: dict[str, Callable[[AsyncSession], Awaitable[Any]]] = {
        "ledger_entries USING INDEX ix_ledger_entries_conversation (conversation_number=?)": (
            lambda session: ledger.anonymise_conversations(session, [CONVERSATION])
        ),
        "idempotency_keys USING INDEX ix_idempotency_keys_conversation (conversation_id=?)": (
            lambda session: idempotency.erase_conversations(session, [CONVERSATION])
        ),
        "channel_inbound USING INDEX ix_channel_inbound_customer (channel_id=? AND customer_identifier=?)": (
            lambda session: channels.erase_inbound(session, channels.channels_of_account(1), "+49155551234")
        ),
        "conversation_reads USING INDEX sqlite_autoindex_conversation_reads_1 (conversation_id=?)": (
            lambda session: reads.erase_reads(session, CONVERSATION)
        ),
        "conversations USING INDEX ix_conversations_account_activity (account_id=? AND updated_at<?)": (
            lambda session: conversations.idle_since_before(session, 1, utcnow() - timedelta(days=30), 100)
        ),
        "conversations USING INDEX ix_conversations_customer (account_id=? AND customer_identifier=?)": (
            lambda session: conversations.of_customer(session, 1, "+49155551234")
        ),
    }
    async with sessions_on(url) as sessions:
        for index, statement in expected.items():
            plan = await query_plan(sessions, statement)
            table, _, used = index.partition(" USING ")
            assert f"SEARCH {table} USING {used}" in plan or f"SEARCH {table} USING COVERING {used}" in plan, plan
            assert "SCAN ledger_entries" not in plan and "SCAN idempotency_keys" not in plan, plan
