"""The account: balance, limits, the ledger and totals."""

import base64
from typing import Any

import pytest

from tests.api.test_errors import assert_error, detail_fields
from tests.conftest import Tenant


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
