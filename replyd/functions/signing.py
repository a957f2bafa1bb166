"""Webhook signatures: ``X-Replyd-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>``.

A receiver checks it with ``verify_signature`` (or the same few lines in its own language):
recompute the HMAC over the timestamp, a dot and the raw body bytes, compare in constant
time, and refuse timestamps too far from its clock, so a captured call cannot be replayed."""

import base64
import hashlib
import hmac
import secrets
import time

SIGNATURE_HEADER = "X-Replyd-Signature"
SECRET_PREFIX = "whsec_"


def new_webhook_secret() -> str:
    """``whsec_`` and 32 random bytes in standard base64, the form Standard Webhooks reads."""
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()


def sign(secret: str, body: bytes, timestamp: int) -> str:
    mac = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={mac}"


def verify_signature(secret: str, header: str, body: bytes, tolerance_s: int = 300, now: float | None = None) -> bool:
    """True if ``header`` signs ``body`` with ``secret`` within ``tolerance_s`` of ``now``."""
    fields = dict(part.split("=", 1) for part in header.split(",") if "=" in part)
    timestamp, mac = fields.get("t", ""), fields.get("v1", "")
    if not timestamp.isdigit():
        return False
    if abs((time.time() if now is None else now) - int(timestamp)) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, body, int(timestamp)), f"t={timestamp},v1={mac}")
