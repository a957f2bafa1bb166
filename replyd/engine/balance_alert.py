"""``account.balance_low``: told by the charge that takes an account's balance below the
threshold its operator set, once per crossing (a top-up above it arms it again). The balance is
read after the charge, in the charge's transaction: concurrent charges of the account wait for
it, so exactly one of them sees the crossing."""

from sqlalchemy.ext.asyncio import AsyncConnection

from replyd.events.outbox import Subscriptions, emit
from replyd.events.types import BALANCE_LOW
from replyd.money import format_micros
from replyd.store import accounts


async def check(
    db: AsyncConnection, account_id: int, charged_micros: int, threshold_micros: int, subscribed: Subscriptions
) -> None:
    if not subscribed.want(BALANCE_LOW):
        return
    balance, currency = await accounts.balance_and_currency(db, account_id)
    if balance < threshold_micros <= balance + charged_micros:
        data = {
            "account": {
                "id": account_id,
                "currency": currency,
                "balance": format_micros(balance),
                "balance_micros": balance,
                "threshold": format_micros(threshold_micros),
                "threshold_micros": threshold_micros,
            }
        }
        await emit(db, account_id, BALANCE_LOW, data, None, subscribed)
