"""The kinds of channel and what connecting each takes: the credentials the platform gives the
user (kept encrypted), and the secret replyd makes for the platform's calls to its inbound URL
(shown once, for the user to enter on the platform's side)."""

import secrets
from collections.abc import Mapping
from dataclasses import dataclass

from pydantic import BaseModel, ConfigDict, Field, StrictStr, ValidationError

from replyd.errors import FieldProblem, ValidationFailed, problems_from_pydantic
from replyd.formats import DIGITS, E164, TELEGRAM_BOT_TOKEN, TWILIO_ACCOUNT_SID


class WhatsAppCredentials(BaseModel):
    """From the Meta app: the Cloud API's token, the app secret that signs notifications
    (``X-Hub-Signature-256``) and the business phone number's id."""

    model_config = ConfigDict(extra="forbid")

    access_token: StrictStr = Field(min_length=1, max_length=1000)
    app_secret: StrictStr = Field(min_length=1, max_length=200)
    phone_number_id: StrictStr = Field(pattern=DIGITS.pattern)


class TwilioCredentials(BaseModel):
    """From the Twilio console: the account, its auth token (which also signs Twilio's
    webhooks, ``X-Twilio-Signature``) and the number replies are sent from."""

    model_config = ConfigDict(extra="forbid")

    account_sid: StrictStr = Field(pattern=TWILIO_ACCOUNT_SID.pattern)
    auth_token: StrictStr = Field(min_length=1, max_length=200)
    from_number: StrictStr = Field(pattern=E164.pattern, description="E.164")


class TelegramCredentials(BaseModel):
    """From @BotFather: the bot's token."""

    model_config = ConfigDict(extra="forbid")

    bot_token: StrictStr = Field(pattern=TELEGRAM_BOT_TOKEN.pattern)


@dataclass(frozen=True)
class Kind:
    name: str
    title: str
    """As people write it."""
    credentials: type[BaseModel]
    inbound_secret: str | None
    """What the secret replyd makes is called on the platform's side (None: the platform signs
    with a credential, and replyd makes none)."""


KINDS = {
    kind.name: kind
    for kind in (
        Kind("whatsapp", "WhatsApp", WhatsAppCredentials, "verify_token"),
        Kind("twilio", "Twilio SMS", TwilioCredentials, None),
        Kind("telegram", "Telegram", TelegramCredentials, "secret_token"),
    )
}


def kind_named(name: str) -> Kind:
    kind = KINDS.get(name)
    if kind is None:
        raise ValidationFailed([FieldProblem("kind", f"must be one of {', '.join(KINDS)}")])
    return kind


def checked_credentials(kind: Kind, credentials: Mapping[str, object]) -> dict[str, str]:
    """The credentials as the kind needs them, or every problem with them, field by field."""
    try:
        return kind.credentials.model_validate(credentials).model_dump()
    except ValidationError as exc:
        problems = [FieldProblem(f"credentials.{p.field}", p.message) for p in problems_from_pydantic(exc.errors())]
        raise ValidationFailed(problems) from None


def new_inbound_secret() -> str:
    """Letters, digits, ``_`` and ``-`` only: what Telegram allows in a secret token."""
    return secrets.token_urlsafe(32)
