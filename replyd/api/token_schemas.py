"""Bodies of the token endpoints: the account's API tokens, listed without their secrets."""

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, JsonValue, StrictStr

from replyd.api.openapi import example
from replyd.services.accounts import TokenListing

TOKEN_EXAMPLE: dict[str, JsonValue] = {
    "id": 3,
    "prefix": "rpd_Xb3kP1q",
    "scope": "replies",
    "rate_limit": "60/minute",
    "created_at": "2026-12-03T17:40:12.123456Z",
    "revoked_at": None,
    "name": None,
}


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    scope: Literal["admin", "replies", "operator"] = Field(
        default="replies",
        description="replies: generate replies and read conversations; admin: every endpoint of the account; "
        "operator: one person's sign-in to the console's conversations (no API).",
    )
    name: StrictStr | None = Field(
        default=None, max_length=80, description="Whose token it is; required for an operator token."
    )
    rate_limit: StrictStr | None = Field(
        default=None,
        max_length=64,
        description="This token's generate-reply limit, e.g. 60/minute; null: the server's.",
    )


class TokenData(BaseModel):
    id: int
    prefix: str = Field(description="The token's first characters, to tell tokens apart; never the whole token.")
    scope: str
    rate_limit: str | None
    created_at: datetime
    revoked_at: datetime | None
    name: str | None

    @classmethod
    def of(cls, token: TokenListing) -> "TokenData":
        return cls(
            id=token.id,
            prefix=token.prefix,
            scope=token.scope,
            rate_limit=token.rate_limit,
            created_at=token.created_at,
            revoked_at=token.revoked_at,
            name=token.name,
        )


class TokenListOut(BaseModel):
    model_config = example(success=True, data=[TOKEN_EXAMPLE])

    success: bool = True
    data: list[TokenData]


class NewTokenOut(BaseModel):
    model_config = example(success=True, token_id=3, scope="replies", api_token="rpd_Xb3kP1q...")

    success: bool = True
    token_id: int
    scope: str
    api_token: str = Field(description="The token itself: shown only now, never stored.")


class RevokedTokenOut(BaseModel):
    model_config = example(success=True, token_id=3, revoked=True)

    success: bool = True
    token_id: int
    revoked: bool = Field(description="True also when it was revoked already.")
