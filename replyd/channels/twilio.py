"""Twilio Programmable Messaging (SMS), as Twilio documents it
(https://www.twilio.com/docs/messaging): an incoming message and a sent message's status are
posted form-encoded to the channel's inbound URLs, signed with the account's auth token
(``X-Twilio-Signature``, checked with the ``twilio`` package's ``RequestValidator``); answers go
out with ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json``."""

import base64
from collections.abc import Mapping
from typing import Any

from twilio.request_validator import RequestValidator

from replyd.channels.inbound import Incoming, placeholder
from replyd.channels.outgoing import Call, Outgoing, PlatformStatus, Refusal

SIGNATURE_HEADER = "X-Twilio-Signature"
MAX_TEXT = 1600
"""Twilio's limit for a message's body (it splits longer SMS into segments itself)."""
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
"""The answer to an incoming message: replyd answers later, through the REST API, so Twilio
sends nothing now."""
STATUSES = {
    "accepted": "accepted",
    "scheduled": "accepted",
    "queued": "accepted",
    "sending": "accepted",
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "undelivered": "failed",
    "failed": "failed",
    "canceled": "failed",
}
"""Twilio's ``MessageStatus`` and the status replyd records for it."""
FINAL_REFUSALS = {
    21610: "the customer has unsubscribed (replied STOP) from this number; they must reply START first",
    21211: "the customer's number is not a valid phone number",
    21614: "the customer's number is not a mobile number that can receive SMS",
    21408: "the Twilio account may not send SMS to the customer's country (Geo Permissions)",
    63016: "more than 24 hours have passed since the customer last wrote: only a template message may be sent",
}
"""Error codes of a send that no retry can change, and what they mean for the operator."""
DELIVERY_ERRORS = {
    30003: "the customer's phone is unreachable (switched off or out of coverage)",
    30004: "the message was blocked (the customer blocked the number, or their carrier did)",
    30005: "the customer's number is unknown to the carrier (it may no longer exist)",
    30006: "the customer's number is a landline or its carrier cannot take SMS",
    30007: "the carrier filtered the message as spam",
    30008: "the carrier could not deliver the message (unknown error)",
}
"""``ErrorCode`` of an undelivered or failed message's status callback, in plain words."""


def is_signed(auth_token: str, url: str, form: Mapping[str, str], signature: str | None) -> bool:
    """Whether ``signature`` is Twilio's for this URL (as Twilio called it) and these form fields."""
    return signature is not None and RequestValidator(auth_token).validate(url, dict(form), signature)


def incoming(form: Mapping[str, str]) -> Incoming | None:
    """The customer's message; None for a post that holds none."""
    sid, sender = form.get("MessageSid"), form.get("From")
    if not sid or not sender:
        return None
    return Incoming(sid, sender, text_of(form) or "[message]")


def text_of(form: Mapping[str, str]) -> str:
    """The body; media (MMS) and a shared location become placeholders before it."""
    body = form.get("Body", "").strip()
    media = [form.get(f"MediaContentType{n}", "") for n in range(_count(form.get("NumMedia")))]
    labels = [placeholder(kind.split("/")[0] or "media") for kind in media]
    if form.get("Latitude") and form.get("Longitude"):
        labels.append(placeholder("location"))
    return " ".join([*labels, body]).strip()


def _count(value: str | None) -> int:
    return min(int(value), 10) if value and value.isdigit() else 0


def status(form: Mapping[str, str]) -> PlatformStatus | None:
    """A status callback's news of a sent message; None for a status replyd does not track."""
    sid, reported = form.get("MessageSid"), STATUSES.get(form.get("MessageStatus", ""))
    if not sid or reported is None:
        return None
    code = form.get("ErrorCode")
    error = None
    if reported == "failed" and code:
        reason = DELIVERY_ERRORS.get(int(code) if code.isdigit() else 0, "see Twilio's error reference")
        error = f"Twilio error {code}: {reason}"
    return PlatformStatus(sid, reported, error)


def send_message(api_url: str, outgoing: Outgoing) -> Call:
    """``Messages.json``, form-encoded, with the account's SID and auth token as Basic auth;
    ``StatusCallback`` where Twilio is to report the message's statuses, if replyd knows its
    public URL."""
    credentials = outgoing.credentials
    account = credentials["account_sid"]
    body = {"To": outgoing.to, "From": credentials["from_number"], "Body": outgoing.text[:MAX_TEXT]}
    if outgoing.status_url is not None:
        body["StatusCallback"] = outgoing.status_url
    basic = base64.b64encode(f"{account}:{credentials['auth_token']}".encode()).decode()
    url = f"{api_url.rstrip('/')}/2010-04-01/Accounts/{account}/Messages.json"
    return Call(url, body, {"Authorization": f"Basic {basic}"}, form=True)


def sent_message_id(answer: Any) -> str | None:
    """The ``SM...`` SID Twilio gave the message: its status callbacks come under it."""
    sid = answer.get("sid") if isinstance(answer, dict) else None
    return sid if isinstance(sid, str) and sid else None


def refusal(status: int, answer: Any) -> Refusal:
    """Twilio's refusal in plain words, from its error body (``code``, ``message``)."""
    error = answer if isinstance(answer, dict) else {}
    code, message = error.get("code"), str(error.get("message") or "no reason given")
    if code in FINAL_REFUSALS:
        return Refusal(f"Twilio refused the message for good: {FINAL_REFUSALS[code]} ({message}).", is_final=True)
    if status == 401 or code == 20003:
        return Refusal(f"Twilio refused the account SID or auth token: {message}")
    if status == 429 or code == 20429:
        return Refusal(f"Twilio asks to slow down: too many requests for now ({message}).")
    return Refusal(f"Twilio refused the message (HTTP {status}, error {code}): {message}")
