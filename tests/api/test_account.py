"""The account: balance, limits, the ledger and totals."""

import asyncio
import base64
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from replyd.clock import utcnow
from replyd.services.accounts import AccountService
from replyd.services.usage import Days, UsageService
from replyd.store.tables import LedgerEntry
from tests.api.test_errors import assert_error, detail_fields
from tests.conftest import STUB_MODEL, Tenant
from tests.servers import Scripted, StubModel
from tests.statements import statements_starting
from tests.store.plans import statements_of


async def test_account_shows_balance_and_the_tokens_limit(make_tenant: Any) -> None:
    tenant: Tenant = await make_tenant(balance="12.50", rate_limit="7/minute")
    body = (await tenant.client.get("/api/account")).json()
    assert body["account_id"] == tenant.account_id
    assert (body["balance"], body["balance_micros"], body["currency"]) == ("12.50", 12_500_000, "EUR")
    assert body["token"] == {"id": tenant.token_id, "scope": "admin", "rate_limit": "7/minute"}


async def test_usage_lists_the_ledger_newest_first_with_totals(make_tenant: Any) -> None:
    tenant: Tenant = await make_tenant(balance="1.00", reply_fee="0.01")
    second: Any = (
        await tenant.client.post("/api/assistants", json={"name": "B", "model": "openai:m", "reply_fee": "0.05"})
    ).json()
    for _ in range(3):
        await tenant.reply()
    await tenant.reply(assistant_id=second["assistant"]["id"])
    usage = (await tenant.client.get("/api/account/usage", params={"per_page": 3})).json()
    assert [e["kind"] for e in usage["data"]] == ["reply", "reply", "reply"]
    assert usage["data"][0]["amount"] == "-0.05" and usage["data"][0]["assistant_id"] == second["assistant"]["id"]
    rest = (
        await tenant.client.get("/api/account/usage", params={"per_page": 3, "cursor": usage["next_cursor"]})
    ).json()
    assert [e["kind"] for e in rest["data"]] == ["reply", "top_up"] and rest["next_cursor"] is None
    assert rest["data"][-1]["amount"] == "1.00"
    totals = usage["totals"]
    assert [(d["spent"], d["replies"]) for d in totals["per_day"]] == [("0.08", 4)]
    assert [(a["assistant_id"], a["spent"], a["replies"]) for a in totals["per_assistant"]] == [
        (second["assistant"]["id"], "0.05", 1),
        (tenant.assistant_id, "0.03", 3),
    ]


async def test_usage_totals_equal_the_ledgers_sums_after_replies_failures_and_top_ups(
    make_tenant: Any, stub_model: StubModel, db: async_sessionmaker[AsyncSession]
) -> None:
    tenant: Tenant = await make_tenant(balance="1.00", reply_fee="0.01")
    other = (await tenant.client.post("/api/assistants", json={"name": "B", "model": STUB_MODEL})).json()["assistant"]
    for n in range(3):
        await tenant.reply(f"m{n}", customer=f"c{n}")
    await tenant.reply(assistant_id=other["id"])
    stub_model.enqueue(Scripted(status=500))
    assert (await tenant.reply("fails")).status_code == 502
    await AccountService(db).top_up(tenant.account_id, 2_000_000)
    await tenant.reply("after the top-up")
    async with db() as session:
        charges = await session.execute(
            select(LedgerEntry.assistant_id, func.sum(-LedgerEntry.amount_micros), func.count())
            .where(LedgerEntry.account_id == tenant.account_id, LedgerEntry.kind == "reply")
            .group_by(LedgerEntry.assistant_id)
        )
        ledger_sums = {assistant_id: (int(spent), count) for assistant_id, spent, count in charges.all()}
    totals = (await tenant.client.get("/api/account/usage")).json()["totals"]
    kept = {a["assistant_id"]: (a["spent_micros"], a["replies"]) for a in totals["per_assistant"]}
    assert kept == ledger_sums == {tenant.assistant_id: (40_000, 4), other["id"]: (10_000, 1)}
    today = utcnow().date().isoformat()
    assert [(d["day"], d["spent_micros"], d["replies"]) for d in totals["per_day"]] == [(today, 50_000, 5)]
    assert (totals["since"], totals["until"]) == ((utcnow().date() - timedelta(days=29)).isoformat(), today)


CHARGING_APART = ["UPDATE accounts SET balance_micros", "INSERT INTO usage_totals", "INSERT INTO ledger_entries"]
CHARGING_AT_ONCE = "WITH moved AS (UPDATE accounts"


async def test_replies_charged_at_once_on_postgresql_keep_balance_totals_and_ledger_equal(
    make_tenant: Any, db: async_sessionmaker[AsyncSession], database_url: str
) -> None:
    """A reply's charge locks its account's row until the commit, and every reply of the
    account waits for it: on PostgreSQL the balance, the totals and the entry are written in one
    statement, so that the lock is held for one round trip, not three. Concurrent replies of
    one account are all charged, once each, and the balance, the totals and the ledger agree."""
    tenant: Tenant = await make_tenant(balance="1.00", reply_fee="0.01")
    with statements_starting(*CHARGING_APART, CHARGING_AT_ONCE) as seen:
        assert (await tenant.reply("first", customer="c-0")).status_code == 200
    assert seen == ([CHARGING_AT_ONCE] if database_url.startswith("postgresql") else CHARGING_APART)

    answers = await asyncio.gather(*(tenant.reply(f"m{n}", customer=f"c-{n % 4}") for n in range(12)))
    assert [answer.status_code for answer in answers] == [200] * 12
    account = (await tenant.client.get("/api/account")).json()
    totals = (await tenant.client.get("/api/account/usage")).json()["totals"]
    async with db() as session:
        charged = await session.scalar(
            select(func.sum(-LedgerEntry.amount_micros)).where(
                LedgerEntry.account_id == tenant.account_id, LedgerEntry.kind == "reply"
            )
        )
    assert charged == 13 * 10_000 > 0
    assert account["balance_micros"] == 1_000_000 - charged
    assert [(d["spent_micros"], d["replies"]) for d in totals["per_day"]] == [(charged, 13)]


async def test_usage_reads_of_the_ledger_only_its_page(tenant: Tenant, db: async_sessionmaker[AsyncSession]) -> None:
    """The totals come from the rows kept as replies are charged, never from a sum of the
    whole ledger, on the first page and on every page after."""
    await tenant.reply()
    usage = UsageService(db)
    sent = await statements_of(db, lambda _: usage.usage(tenant.account_id, 1, None, Days.of(None, None)))
    of_ledger = [statement for statement, _ in sent if "ledger_entries" in statement]
    assert len(of_ledger) == 1 and "LIMIT" in of_ledger[0]


async def test_usage_totals_cover_the_days_asked_for(tenant: Tenant) -> None:
    await tenant.reply()
    today = utcnow().date()
    yesterday = {"since": (today - timedelta(days=1)).isoformat(), "until": (today - timedelta(days=1)).isoformat()}
    before = (await tenant.client.get("/api/account/usage", params=yesterday)).json()
    assert before["totals"]["per_day"] == before["totals"]["per_assistant"] == []
    assert [e["kind"] for e in before["data"]] == ["reply", "top_up"]  # the range is the totals', not the ledger's
    today_only = {"since": today.isoformat(), "until": today.isoformat()}
    assert len((await tenant.client.get("/api/account/usage", params=today_only)).json()["totals"]["per_day"]) == 1


@pytest.mark.parametrize(
    ("days", "field"),
    [
        ({"since": "2026-11-27", "until": "2026-11-26"}, "since"),
        ({"since": "2025-11-25", "until": "2026-11-26"}, "since"),
        ({"since": "2026-02-30"}, "query.since"),
        ({"until": "0001-01-01"}, "until"),  # its default since would be before the calendar's first day
    ],
)
async def test_a_backwards_too_long_or_impossible_range_is_refused(
    tenant: Tenant, days: dict[str, str], field: str
) -> None:
    response = await tenant.client.get("/api/account/usage", params=days)
    assert detail_fields(assert_error(response, 422, "VALIDATION_ERROR")) == [field]


async def test_a_foreign_or_broken_cursor_is_refused(tenant: Tenant) -> None:
    assert_error(
        await tenant.client.get("/api/account/usage", params={"cursor": "eyJ4IjoxfQ"}), 422, "VALIDATION_ERROR"
    )


def cursor_of(text: str) -> str:
    """``text`` as a cursor is written: base64url of JSON, without padding."""
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "text",
    [
        '{"before": true}',
        '{"before": false}',
        f'{{"before": {2**63}}}',
        f'{{"before": {-(2**63) - 1}}}',
        '{"before": 0}',
        '{"before": 1.5}',
        '{"before": 1e400}',
        '{"before": "7"}',
        '{"before": null}',
        '{"before": [1]}',
        '{"before": 5, "d": "next"}',
        '{"d": "next", "u": "2026-01-01T00:00:00", "i": "x"}',
        "[1]",
        '"\\ud800"',
    ],
)
async def test_a_junk_ledger_cursor_is_refused_in_the_envelope(tenant: Tenant, text: str) -> None:
    response = await tenant.client.get("/api/account/usage", params={"cursor": cursor_of(text)})
    assert detail_fields(assert_error(response, 422, "VALIDATION_ERROR")) == ["cursor"]
