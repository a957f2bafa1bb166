"""What every platform's inbound message comes to, whatever its shape on the platform: who
wrote, the platform's id of the message (its retries carry the same one), and the text the
assistant reads."""

from dataclasses import dataclass


@dataclass(frozen=True)
class Incoming:
    platform_message_id: str
    """The platform retries a delivery with the same one: the key that keeps it once."""
    customer_identifier: str
    """The platform's own (E.164 number, Telegram chat id), so API and channel share a conversation."""
    text: str


def placeholder(label: str, caption: str | None = None) -> str:
    """What a message that is not text reads as in the conversation (``[photo] my broken lamp``):
    the model and the operator see that the customer sent something, and what kind."""
    return f"[{label}] {caption or ''}".strip()
