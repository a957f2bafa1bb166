"""What every platform's sending comes to: the message to send, the one call that sends it, the
platform's refusal of it in plain words, and what the platform later reports of it."""

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Outgoing:
    """A message for a channel's customer, with the channel's credentials opened."""

    credentials: dict[str, str]
    to: str
    """The customer identifier: the platform's own (E.164 number, Telegram chat id)."""
    text: str
    status_url: str | None
    """Where the platform is to report the message's statuses (Twilio), if replyd knows its public URL."""


@dataclass(frozen=True)
class Call:
    """A POST to the platform's API, with a JSON body (or a form-encoded one: Twilio)."""

    url: str
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    form: bool = False


@dataclass(frozen=True)
class Refusal:
    reason: str
    """In plain words, for the delivery's attempt log and the message's status."""
    is_final: bool = False
    """Sending again cannot help (WhatsApp's 24-hour window): the delivery fails for good at once."""
    retry_after_s: float | None = None
    """How long the platform asked to wait before the next attempt, where it says so in its body."""


@dataclass(frozen=True)
class PlatformStatus:
    """What the platform reported of a message replyd sent, under its id of it."""

    platform_message_id: str
    status: str
    """One of ``store.channels.STATUSES``."""
    error: str | None
