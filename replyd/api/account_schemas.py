"""Bodies of the account endpoints: balance, limits, and the ledger."""

from datetime import datetime

from pydantic import BaseModel, Field

from replyd.money import format_micros
from replyd.store.tables import LedgerEntry


class TokenInfo(BaseModel):
    id: int
    scope: str
    rate_limit: str = Field(description="This token's generate-reply limit.")


class AccountOut(BaseModel):
    success: bool = True
    account_id: int
    name: str
    currency: str
    balance: str
    balance_micros: int
    token: TokenInfo


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
    def of(cls, entry: LedgerEntry) -> "LedgerEntryOut":
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
    assistant_id: int | None
    spent: str
    spent_micros: int
    replies: int


class UsageTotals(BaseModel):
    per_day: list[DayTotal]
    per_assistant: list[AssistantTotal]


class UsageOut(BaseModel):
    success: bool = True
    data: list[LedgerEntryOut] = Field(description="Ledger entries, newest first.")
    per_page: int
    next_cursor: str | None
    totals: UsageTotals
