"""The token's account: balance and limits, and the ledger of what it spent."""

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Query

from replyd import errors
from replyd.api.account_schemas import (
    AccountChangesIn,
    AccountOut,
    AssistantTotal,
    DayTotal,
    LedgerEntryOut,
    TokenInfo,
    UsageOut,
    UsageTotals,
)
from replyd.api.deps import AdminToken, body_of
from replyd.api.openapi import BODY_ERRORS, error_responses, json_body
from replyd.app_state import State
from replyd.money import format_micros, parse_amount
from replyd.services import Services
from replyd.services.accounts import AccountChanges, TokenView
from replyd.services.usage import Days
from replyd.services.views import AccountView

router = APIRouter(tags=["account"])


@router.get(
    "/api/account",
    summary="Balance, currency and limits",
    responses=error_responses(errors.Unauthenticated, errors.Forbidden),
)
async def get_account(token: AdminToken, state: State) -> AccountOut:
    return _account_out(await state.accounts.get(token.account_id), token, state)


@router.patch(
    "/api/account",
    summary="Change the account's low-balance threshold or its conversations' retention",
    description="Only the fields sent change.",
    openapi_extra=json_body(AccountChangesIn),
    responses=error_responses(*BODY_ERRORS, errors.Unauthenticated, errors.Forbidden),
)
async def update_account(
    token: AdminToken, state: State, changes: Annotated[AccountChangesIn, Depends(body_of(AccountChangesIn))]
) -> AccountOut:
    sent = changes.model_fields_set
    if not sent:
        problem = "send balance_low_threshold, conversation_retention_days or both"
        raise errors.ValidationFailed([errors.FieldProblem("body", problem)])
    wanted = AccountChanges()
    if "balance_low_threshold" in sent:
        threshold = changes.balance_low_threshold
        wanted["balance_low_micros"] = None if threshold is None else parse_amount(threshold)
    if "conversation_retention_days" in sent:
        wanted["conversation_retention_days"] = changes.conversation_retention_days
    account = await state.accounts.change(token.account_id, wanted)
    return _account_out(account, token, state)


def _account_out(account: AccountView, token: TokenView, state: Services) -> AccountOut:
    threshold = account.balance_low_micros
    return AccountOut(
        account_id=account.id,
        name=account.name,
        currency=account.currency,
        balance=format_micros(account.balance_micros),
        balance_micros=account.balance_micros,
        balance_low_threshold=None if threshold is None else format_micros(threshold),
        conversation_retention_days=account.conversation_retention_days,
        token=TokenInfo(id=token.id, scope=token.scope, rate_limit=state.reply_limits.rate_of(token.rate_limit)),
    )


@router.get(
    "/api/account/usage",
    summary="Ledger entries, and totals per day and per assistant over a range of days",
    responses=error_responses(errors.Unauthenticated, errors.Forbidden, errors.ValidationFailed),
)
async def get_usage(
    token: AdminToken,
    state: State,
    per_page: Annotated[int, Query(ge=1, le=100)] = 50,
    cursor: Annotated[str | None, Query(max_length=1000)] = None,
    since: Annotated[
        date | None, Query(description="First UTC day of the totals; 29 days before `until` if not given.")
    ] = None,
    until: Annotated[
        date | None, Query(description="Last UTC day of the totals (included); today if not given.")
    ] = None,
) -> UsageOut:
    usage = await state.usage.usage(token.account_id, per_page, cursor, Days.of(since, until))
    return UsageOut(
        data=[LedgerEntryOut.of(entry) for entry in usage.entries],
        per_page=per_page,
        next_cursor=usage.next_cursor,
        totals=UsageTotals(
            since=usage.days.since.isoformat(),
            until=usage.days.until.isoformat(),
            per_day=[DayTotal(day=d, spent=format_micros(m), spent_micros=m, replies=n) for d, m, n in usage.per_day],
            per_assistant=[
                AssistantTotal(assistant_id=a, spent=format_micros(m), spent_micros=m, replies=n)
                for a, m, n in usage.per_assistant
            ],
        ),
    )
