"""The fan-out finds the events still to fan out through an index of those alone (SQLite's
plan): it reads none of the events fanned out before, however many the outbox holds."""

import asyncio
from pathlib import Path

from replyd.clock import utcnow
from replyd.store import events
from replyd.store.migrate import upgrade_database
from tests.conftest import sessions_on
from tests.store.plans import query_plan


async def test_the_fan_out_reads_the_events_waiting_through_their_own_index(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/outbox.db"
    await asyncio.to_thread(upgrade_database, url)
    async with sessions_on(url) as sessions:
        plan = await query_plan(sessions, lambda session: events.fan_out(session, utcnow(), 100))
    assert "SCAN events USING INDEX ix_events_to_fan_out" in plan, plan
    assert plan.count("SCAN events") == 1, plan  # and no other scan of the table
