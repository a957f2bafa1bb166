"""A reply holds its worst-case cost of the balance from before the model is called until it
settles, so concurrent replies can never spend more than the account has."""

import asyncio
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from replyd.money import parse_amount
from replyd.store.tables import Account
from tests.api.test_errors import assert_error
from tests.conftest import Tenant
from tests.servers import Scripted, StubModel


async def reserved_micros(db: Any, account_id: int) -> int:
    async with db() as session:
        reserved: int = await session.scalar(select(Account.reserved_micros).where(Account.id == account_id))
        return reserved


async def test_twenty_concurrent_replies_never_overdraw_the_balance(make_tenant: Any, snapshot: Any, db: Any) -> None:
    await assert_twenty_concurrent_replies_never_overdraw(
        await make_tenant(balance="0.05", reply_fee="0.01"), snapshot, db
    )


async def assert_twenty_concurrent_replies_never_overdraw(tenant: Tenant, snapshot: Any, db: Any) -> None:
    """``tenant`` has a balance of 0.05 and pays 0.01 a reply: 5 of 20 are answered, 15 refused."""
    answers = await asyncio.gather(*(tenant.reply(f"hi {n}", customer=f"c-{n}") for n in range(20)))
    statuses = sorted(answer.status_code for answer in answers)
    assert statuses == [200] * 5 + [402] * 15
    for refused in (answer for answer in answers if answer.status_code == 402):
        assert_error(refused, 402, "INSUFFICIENT_BALANCE")
    after = await snapshot(tenant.account_id)
    assert after.balance_micros == 0 == after.ledger_sum_micros - 0
    assert after.ledger_entries == 1 + 5
    assert await reserved_micros(db, tenant.account_id) == 0


async def test_a_failed_reply_gives_its_reservation_back(
    make_tenant: Any, stub_model: StubModel, snapshot: Any, db: Any
) -> None:
    tenant: Tenant = await make_tenant(balance="0.01", reply_fee="0.01")
    stub_model.enqueue(Scripted(status=500), "answered")
    assert_error(await tenant.reply("first try"), 502, "LLM_ERROR")
    assert await reserved_micros(db, tenant.account_id) == 0
    assert (await tenant.reply("first try")).status_code == 200  # the whole balance is free again
    assert (await snapshot(tenant.account_id)).balance_micros == 0


@settings(max_examples=12, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    balance=st.decimals(min_value=Decimal("0.01"), max_value=Decimal("0.20"), places=2),
    fee=st.decimals(min_value=Decimal("0.005"), max_value=Decimal("0.05"), places=3),
    replies=st.integers(min_value=1, max_value=12),
)
async def test_concurrent_replies_spend_at_most_the_balance_and_the_ledger_agrees(
    make_tenant: Any, snapshot: Any, db: Any, balance: Decimal, fee: Decimal, replies: int
) -> None:
    tenant: Tenant = await make_tenant(balance=str(balance), reply_fee=str(fee))
    answers = await asyncio.gather(*(tenant.reply(f"m {n}", customer=f"c-{n % 4}") for n in range(replies)))
    answered = sum(answer.status_code == 200 for answer in answers)
    after = await snapshot(tenant.account_id)
    affordable = parse_amount(str(balance)) // parse_amount(str(fee))
    assert answered == min(replies, affordable)
    assert all(answer.status_code in (200, 402) for answer in answers)
    assert after.balance_micros == after.ledger_sum_micros >= 0
    assert after.balance_micros == parse_amount(str(balance)) - answered * parse_amount(str(fee))
    assert await reserved_micros(db, tenant.account_id) == 0
