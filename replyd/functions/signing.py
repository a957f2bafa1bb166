"""Signatures of every outgoing call, as Standard Webhooks (https://www.standardwebhooks.com)
define them: ``webhook-id``, ``webhook-timestamp`` and ``webhook-signature`` (``v1,`` and the
base64 HMAC-SHA256 of ``id.timestamp.body``). Receivers verify with the ``standardwebhooks``
library of their language; replyd signs with the Python one, so both read the secret alike."""

import base64
import functools
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from secrets import token_bytes

from standardwebhooks import Webhook

SECRET_PREFIX = "whsec_"
SECRET_BYTES = 32
ID_HEADER = "webhook-id"
TIMESTAMP_HEADER = "webhook-timestamp"
SIGNATURE_HEADER = "webhook-signature"
SIGNATURE_HEADERS = (ID_HEADER, TIMESTAMP_HEADER, SIGNATURE_HEADER)
ROTATION_OVERLAP = timedelta(hours=24)
"""How long after a rotation calls are signed with the previous secret too: a day for every
receiver to switch to the new one without refusing a call on the way."""


def new_webhook_secret() -> str:
    """``whsec_`` and the key in standard base64, the form the libraries decode."""
    return SECRET_PREFIX + base64.b64encode(token_bytes(SECRET_BYTES)).decode()


def new_message_id() -> str:
    """A ``webhook-id`` for a new message; its retries, if any, keep the same one."""
    return f"msg_{uuid.uuid4().hex}"


def valid_secrets(current: str, previous: str | None, rotated_at: datetime | None, now: datetime) -> list[str]:
    """The secrets to sign with at ``now``: the current one, and the previous one while the
    rotation is younger than ``ROTATION_OVERLAP``."""
    if previous and rotated_at is not None and now - rotated_at < ROTATION_OVERLAP:
        return [current, previous]
    return [current]


def signature_headers(payload: bytes, message_id: str, timestamp: datetime, secrets: Sequence[str]) -> dict[str, str]:
    """The three headers of a message signed with each of ``secrets``. Several signatures share
    the header, separated by spaces; a receiver accepts the message if any one verifies."""
    sent_at = timestamp.astimezone(UTC)  # the library reads the time as UTC whatever its zone
    body = payload.decode()
    signatures = " ".join(_signer(secret).sign(message_id, sent_at, body) for secret in secrets)
    return {
        ID_HEADER: message_id,
        TIMESTAMP_HEADER: str(int(sent_at.timestamp())),
        SIGNATURE_HEADER: signatures,
    }


@functools.lru_cache(maxsize=1024)
def _signer(secret: str) -> Webhook:
    """Kept per secret: making one decodes the secret, and every event an endpoint gets is signed."""
    return Webhook(secret)
