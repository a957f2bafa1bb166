"""Telegram's Bot API, as documented at https://core.telegram.org/bots/api: an update posted to
the channel's inbound URL (``setWebhook`` with ``secret_token``, which Telegram sends back in
``X-Telegram-Bot-Api-Secret-Token``), and ``sendMessage`` for the answers."""

from typing import Any

from replyd.channels.inbound import Incoming, placeholder
from replyd.channels.outgoing import Call, Outgoing, Refusal

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
LABELS = {
    "photo": "photo",
    "video": "video",
    "voice": "voice message",
    "audio": "audio",
    "document": "document",
    "sticker": "sticker",
    "location": "location",
    "contact": "contact",
    "animation": "animation",
    "video_note": "video message",
    "poll": "poll",
}
"""A message's field that is not text, and how its placeholder names it."""
MAX_TEXT = 4096
"""Telegram's limit for one message's text."""


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
        caption = message.get("caption") if isinstance(message.get("caption"), str) else None
        text = placeholder(next((LABELS[key] for key in LABELS if key in message), "message"), caption)
    return Incoming(str(update["update_id"]), str(chat["id"]), text or "[message]")


def send_message(api_url: str, outgoing: Outgoing) -> Call:
    """``sendMessage`` to the chat."""
    url = f"{api_url.rstrip('/')}/bot{outgoing.credentials['bot_token']}/sendMessage"
    return Call(url, {"chat_id": outgoing.to, "text": outgoing.text[:MAX_TEXT]})


def refusal(status: int, answer: Any) -> Refusal:
    """Telegram's refusal in plain words, from its JSON answer (``description``)."""
    description = answer.get("description") if isinstance(answer, dict) else None
    if status == 403:
        return Refusal(f"Telegram refused: the customer blocked the bot or never started it ({description}).")
    if status == 429:
        retry = (answer.get("parameters") or {}).get("retry_after") if isinstance(answer, dict) else None
        wait = float(retry) if isinstance(retry, int | float) else None
        return Refusal(f"Telegram asks to slow down (retry after {retry} s).", retry_after_s=wait)
    return Refusal(f"Telegram refused the message (HTTP {status}): {description or 'no reason given'}.")
