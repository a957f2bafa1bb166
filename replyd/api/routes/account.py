"""The token's account: balance and limits, and the ledger of what it spent."""

from typing import Annotated

from fastapi import APIRouter, Query

from replyd import errors
from replyd.api.account_schemas import (
    AccountOut,
    AssistantTotal,
    DayTotal,
    LedgerEntryOut,
    TokenInfo,
    UsageOut,
    UsageTotals,
)
from replyd.api.deps import AdminToken
from replyd.api.openapi import error_responses
from replyd.app_state import State
from replyd.money import format_micros

router = APIRouter(tags=["account"])


@router.get(
    "/api/account",
    summary="Balance, currency and limits",
    responses=error_responses(errors.Unauthenticated, errors.Forbidden),
)
async def get_account(token: AdminToken, state: State) -> AccountOut:
    account = await state.accounts.get(token.account_id)
    return AccountOut(
        account_id=account.id,
        name=account.name,
        currency=account.currency,
        balance=format_micros(account.balance_micros),
        balance_micros=account.balance_micros,
        token=TokenInfo(id=token.id, scope=token.scope, rate_limit=state.reply_limits.rate_of(token.rate_limit)),
    )


@router.get(
    "/api/account/usage",
    summary="Ledger entries, and totals per day and per assistant",
    responses=error_responses(errors.Unauthenticated, errors.Forbidden, errors.ValidationFailed),
)
async def get_usage(
    token: AdminToken,
    state: State,
    per_page: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=1000)] = None,
) -> UsageOut:
    usage = await state.usage.usage(token.account_id, per_page, cursor)
    return UsageOut(
        data=[LedgerEntryOut.of(entry) for entry in usage.entries],
        per_page=per_page,
        next_cursor=usage.next_cursor,
        totals=UsageTotals(
            per_day=[DayTotal(day=d, spent=format_micros(m), spent_micros=m, replies=n) for d, m, n in usage.per_day],
            per_assistant=[
                AssistantTotal(assistant_id=a, spent=format_micros(m), spent_micros=m, replies=n)
                for a, m, n in usage.per_assistant
            ],
        ),
    )
