"""Bodies of the account endpoints: balance, limits, and the ledger."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from replyd.api.openapi import example
from replyd.money import format_micros
from replyd.services.accounts import MAX_RETENTION_DAYS
from replyd.services.assistant_config import Amount
from replyd.services.views import LedgerEntryView


class TokenInfo(BaseModel):
    id: int
    scope: str
    rate_limit: str = Field(description="This token's generate-reply limit.")


class AccountOut(BaseModel):
    model_config = example(
        success=True,
        account_id=1,
        name="default",
        currency="EUR",
        balance="9.98",
        balance_micros=9_980_000,
        balance_low_threshold="5.00",
        conversation_retention_days=None,
        token={"id": 1, "scope": "admin", "rate_limit": "5/minute"},
    )

    success: bool = True
    account_id: int
    name: str
    currency: str
    balance: str
    balance_micros: int
    balance_low_threshold: str | None = Field(
        description="A charge that takes the balance below this sends account.balance_low; null: never."
    )
    conversation_retention_days: int | None = Field(
        description="Conversations idle longer than this many days are erased; null: kept for ever."
    )
    token: TokenInfo


class AccountChangesIn(BaseModel):
    """Partial: what is not sent keeps its value."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"balance_low_threshold": "5.00"}, {"conversation_retention_days": 90}]},
    )

    balance_low_threshold: Amount | None = Field(
        None, description="Send account.balance_low when a charge takes the balance below this; null turns it off."
    )
    conversation_retention_days: StrictInt | None = Field(
        None,
        description=f"Erase conversations idle longer than this many days (1 to {MAX_RETENTION_DAYS}); "
        "null keeps them for ever.",
    )


class LedgerEntryOut(BaseModel):
    id: int
    kind: str = Field(description="top_up or reply")
    amount: str = Field(description="Positive for a top-up, negative for a charge.")
    amount_micros: int
    assistant_id: int | None
    conversation_id: str | None
    prompt_tokens: int
    completion_tokens: int
    created_at: datetime

    @classmethod
    def of(cls, entry: LedgerEntryView) -> "LedgerEntryOut":
        return cls(
            id=entry.id,
            kind=entry.kind,
            amount=format_micros(entry.amount_micros),
            amount_micros=entry.amount_micros,
            assistant_id=entry.assistant_id,
            conversation_id=entry.conversation_id,
            prompt_tokens=entry.prompt_tokens,
            completion_tokens=entry.completion_tokens,
            created_at=entry.created_at,
        )


class DayTotal(BaseModel):
    day: str
    spent: str
    spent_micros: int
    replies: int


class AssistantTotal(BaseModel):
    assistant_id: int
    spent: str
    spent_micros: int
    replies: int


class UsageTotals(BaseModel):
    since: str = Field(description="The first UTC day the totals cover (YYYY-MM-DD).")
    until: str = Field(description="The last UTC day the totals cover, included.")
    per_day: list[DayTotal] = Field(description="Days with charges, oldest first.")
    per_assistant: list[AssistantTotal] = Field(description="The most charged first.")


class UsageOut(BaseModel):
    model_config = example(
        success=True,
        data=[
            {
                "id": 7,
                "kind": "reply",
                "amount": "-0.01",
                "amount_micros": -10_000,
                "assistant_id": 1,
                "conversation_id": "5b0f6c1e-3f7a-4e0b-9a43-2d7f4c1f9e21",
                "prompt_tokens": 412,
                "completion_tokens": 38,
                "created_at": "2026-11-26T01:38:09Z",
            }
        ],
        per_page=50,
        next_cursor=None,
        totals={
            "since": "2026-10-28",
            "until": "2026-11-26",
            "per_day": [{"day": "2026-11-26", "spent": "0.01", "spent_micros": 10_000, "replies": 1}],
            "per_assistant": [{"assistant_id": 1, "spent": "0.01", "spent_micros": 10_000, "replies": 1}],
        },
    )

    success: bool = True
    data: list[LedgerEntryOut] = Field(description="Ledger entries, newest first.")
    per_page: int
    next_cursor: str | None
    totals: UsageTotals
