"""WhatsApp's Cloud API, as Meta documents it
(https://developers.facebook.com/docs/whatsapp/cloud-api): the webhook's verification handshake
(``hub.mode``, ``hub.verify_token``, ``hub.challenge``), notifications signed with the app
secret (``X-Hub-Signature-256``) holding customers' messages and the statuses of those sent,
and ``POST /{phone_number_id}/messages`` for the answers."""

import hashlib
import hmac
from typing import Any

from replyd.channels.inbound import Incoming, placeholder
from replyd.channels.outgoing import Call, Outgoing, PlatformStatus, Refusal

SIGNATURE_HEADER = "X-Hub-Signature-256"
MAX_TEXT = 4096
"""The Cloud API's limit for a text message's body."""
LABELS = {
    "image": "image",
    "audio": "audio",
    "voice": "voice message",
    "video": "video",
    "document": "document",
    "sticker": "sticker",
    "location": "location",
    "contacts": "contact",
    "interactive": "reply",
    "button": "button",
    "order": "order",
    "system": "system message",
}
"""A message's ``type`` that is not text, and how its placeholder names it."""
STATUSES = frozenset({"sent", "delivered", "read", "failed"})
"""The statuses a notification reports of a sent message (each one of ``store.channels.STATUSES``)."""
WINDOW_CLOSED = 131047
"""Graph error code: more than 24 hours since the customer wrote (a "Re-engagement message")."""


def is_signed(app_secret: str, body: bytes, signature: str | None) -> bool:
    """Whether ``signature`` is ``sha256=`` and the HMAC-SHA256 of the raw body with the app secret."""
    expected = "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()
    return signature is not None and hmac.compare_digest(signature.strip().encode(), expected.encode())


def _values(notification: dict[str, Any]) -> list[dict[str, Any]]:
    """Each change's ``value`` in a ``whatsapp_business_account`` notification."""
    if notification.get("object") != "whatsapp_business_account":
        return []
    changes = [c for e in _list(notification.get("entry")) if isinstance(e, dict) for c in _list(e.get("changes"))]
    return [c["value"] for c in changes if isinstance(c, dict) and isinstance(c.get("value"), dict)]


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def incoming(notification: dict[str, Any]) -> list[Incoming]:
    """The customers' messages in a notification, in order (one may hold several)."""
    found = []
    for value in _values(notification):
        for message in _list(value.get("messages")):
            if isinstance(message, dict) and _is_str(message.get("from")) and _is_str(message.get("id")):
                found.append(Incoming(message["id"], "+" + message["from"].lstrip("+"), text_of(message)))
    return found


def text_of(message: dict[str, Any]) -> str:
    """A text message's body; for the other types a placeholder, with the caption if any."""
    kind = message.get("type")
    content = message.get(kind) if isinstance(kind, str) else None
    content = content if isinstance(content, dict) else {}
    if kind == "text" and _is_str(content.get("body")):
        return str(content["body"])
    if kind == "reaction":
        return placeholder(f"reaction {content.get('emoji') or 'removed'}")
    caption = content.get("caption") if _is_str(content.get("caption")) else None
    label = LABELS.get(kind, "message") if isinstance(kind, str) else "message"
    return placeholder(label, caption)


def statuses(notification: dict[str, Any]) -> list[PlatformStatus]:
    """The statuses of sent messages in a notification, in order; kinds replyd does not know are left out."""
    found = []
    for value in _values(notification):
        for status in _list(value.get("statuses")):
            if not isinstance(status, dict) or not _is_str(status.get("id")):
                continue
            if status.get("status") in STATUSES:
                found.append(PlatformStatus(status["id"], status["status"], _status_error(status)))
    return found


def _status_error(status: dict[str, Any]) -> str | None:
    errors = [e for e in _list(status.get("errors")) if isinstance(e, dict)]
    if not errors:
        return None
    first = errors[0]
    details = (first.get("error_data") or {}).get("details") if isinstance(first.get("error_data"), dict) else None
    return ": ".join(str(part) for part in (first.get("title"), details or first.get("message")) if part)


def _is_str(value: Any) -> bool:
    return isinstance(value, str) and value != ""


def send_message(api_url: str, outgoing: Outgoing) -> Call:
    """``POST /{phone_number_id}/messages``: a text message to the customer's number (digits, no ``+``)."""
    body = {
        "messaging_product": "whatsapp",
        "recipient_type": "individual",
        "to": outgoing.to.lstrip("+"),
        "type": "text",
        "text": {"preview_url": False, "body": outgoing.text[:MAX_TEXT]},
    }
    credentials = outgoing.credentials
    url = f"{api_url.rstrip('/')}/{credentials['phone_number_id']}/messages"
    return Call(url, body, {"Authorization": f"Bearer {credentials['access_token']}"})


def sent_message_id(answer: Any) -> str | None:
    """The ``wamid`` the Graph API gave the message it accepted: its statuses come under it."""
    messages = answer.get("messages") if isinstance(answer, dict) else None
    first = messages[0] if isinstance(messages, list) and messages else None
    return first["id"] if isinstance(first, dict) and _is_str(first.get("id")) else None


def refusal(status: int, answer: Any) -> Refusal:
    """The Graph API's refusal in plain words, from its ``error`` object."""
    error = answer.get("error") if isinstance(answer, dict) else None
    error = error if isinstance(error, dict) else {}
    code, message = error.get("code"), str(error.get("message") or "no reason given")
    if code == WINDOW_CLOSED or "re-engagement" in message.lower() or "24 hours" in message:
        return Refusal(
            "More than 24 hours have passed since the customer last wrote: WhatsApp only lets a template "
            "message through now; the message was not sent.",
            is_final=True,
        )
    if status == 401 or code == 190:
        return Refusal(f"WhatsApp refused the access token: {message}")
    if status == 429 or code in (4, 80007, 130429, 131048, 131056):
        return Refusal(f"WhatsApp asks to slow down: too many messages for now ({message}).")
    return Refusal(f"WhatsApp refused the message (HTTP {status}, error {code}): {message}")
