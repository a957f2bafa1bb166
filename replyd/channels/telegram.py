"""Telegram's Bot API, as documented at https://core.telegram.org/bots/api: an update posted to
the channel's inbound URL (``setWebhook`` with ``secret_token``, which Telegram sends back in
``X-Telegram-Bot-Api-Secret-Token``), and ``sendMessage`` for the answers."""

from dataclasses import dataclass
from typing import Any

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
PLACEHOLDERS = {
    "photo": "[photo]",
    "video": "[video]",
    "voice": "[voice message]",
    "audio": "[audio]",
    "document": "[document]",
    "sticker": "[sticker]",
    "location": "[location]",
    "contact": "[contact]",
    "animation": "[animation]",
    "video_note": "[video message]",
    "poll": "[poll]",
}
"""What a message that is not text reads as in the conversation: the model and the operator see
that the customer sent something, and what kind."""
MAX_TEXT = 4096
"""Telegram's limit for one message's text."""


@dataclass(frozen=True)
class Incoming:
    platform_message_id: str
    """The update's id: Telegram retries an update with the same one."""
    chat_id: str
    text: str


def incoming(update: dict[str, Any]) -> Incoming | None:
    """The customer's message in an update; None for the updates that hold none (edits, a bot
    added to a group, ...), which are acknowledged and dropped."""
    message = update.get("message")
    if not isinstance(message, dict) or not isinstance(update.get("update_id"), int):
        return None
    chat = message.get("chat")
    if not isinstance(chat, dict) or not isinstance(chat.get("id"), int):
        return None
    text = message.get("text") if isinstance(message.get("text"), str) else None
    if text is None:
        caption = message.get("caption") if isinstance(message.get("caption"), str) else ""
        kind = next((PLACEHOLDERS[key] for key in PLACEHOLDERS if key in message), "[message]")
        text = f"{kind} {caption}".strip()
    return Incoming(str(update["update_id"]), str(chat["id"]), text or "[message]")


def send_message_request(api_url: str, bot_token: str, chat_id: str, text: str) -> tuple[str, dict[str, Any]]:
    """The URL and JSON body of ``sendMessage``."""
    return f"{api_url.rstrip('/')}/bot{bot_token}/sendMessage", {"chat_id": chat_id, "text": text[:MAX_TEXT]}


def refusal(status: int, answer: Any) -> str:
    """Telegram's refusal in plain words, from its JSON answer (``description``)."""
    description = answer.get("description") if isinstance(answer, dict) else None
    if status == 403:
        return f"Telegram refused: the customer blocked the bot or never started it ({description})."
    if status == 429:
        retry = (answer.get("parameters") or {}).get("retry_after") if isinstance(answer, dict) else None
        return f"Telegram asks to slow down (retry after {retry} s)."
    return f"Telegram refused the message (HTTP {status}): {description or 'no reason given'}."
