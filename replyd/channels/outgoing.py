"""What every platform's sending comes to: the one call that sends a message, and the
platform's refusal of it in plain words."""

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Call:
    """A POST with a JSON body to the platform's API."""

    url: str
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Refusal:
    reason: str
    """In plain words, for the delivery's attempt log."""
    is_final: bool = False
    """Sending again cannot help (WhatsApp's 24-hour window): the delivery fails for good at once."""
