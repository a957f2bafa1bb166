"""replyd signs; the ``standardwebhooks`` library, as a receiver uses it, verifies."""

import base64
from datetime import UTC, datetime, timedelta, timezone

import pytest
from standardwebhooks import Webhook, WebhookVerificationError

from replyd.clock import utcnow
from replyd.functions.signing import (
    ROTATION_OVERLAP,
    new_message_id,
    new_webhook_secret,
    signature_headers,
    valid_secrets,
)

BODY = b'{"function":"book","arguments":{"day":"fri"}}'


def test_a_signed_message_verifies_with_the_library() -> None:
    secret = new_webhook_secret()
    headers = signature_headers(BODY, "msg_1", utcnow(), [secret])
    assert set(headers) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert headers["webhook-id"] == "msg_1" and headers["webhook-signature"].startswith("v1,")
    assert Webhook(secret).verify(BODY, headers) == {"function": "book", "arguments": {"day": "fri"}}


def test_another_secret_body_id_or_an_old_timestamp_fails() -> None:
    secret = new_webhook_secret()
    headers = signature_headers(BODY, "msg_1", utcnow(), [secret])
    stale = signature_headers(BODY, "msg_1", utcnow() - timedelta(minutes=6), [secret])
    for body, received, key in [
        (BODY, headers, new_webhook_secret()),
        (BODY + b" ", headers, secret),
        (BODY, headers | {"webhook-id": "msg_2"}, secret),
        (BODY, stale, secret),
    ]:
        with pytest.raises(WebhookVerificationError):
            Webhook(key).verify(body, received)


def test_with_two_secrets_either_one_verifies() -> None:
    new, old = new_webhook_secret(), new_webhook_secret()
    headers = signature_headers(BODY, "msg_1", utcnow(), [new, old])
    assert len(headers["webhook-signature"].split(" ")) == 2
    Webhook(new).verify(BODY, headers)
    Webhook(old).verify(BODY, headers)


def test_the_timestamp_is_the_moment_whatever_its_zone() -> None:
    secret, moment = new_webhook_secret(), datetime(2026, 12, 4, 10, 0, tzinfo=UTC)
    berlin = moment.astimezone(timezone(timedelta(hours=1)))
    headers = signature_headers(BODY, "msg_1", berlin, [secret])
    assert headers == signature_headers(BODY, "msg_1", moment, [secret])
    assert headers["webhook-timestamp"] == str(int(moment.timestamp()))


def test_the_previous_secret_signs_for_a_day_after_a_rotation() -> None:
    rotated_at = datetime(2026, 12, 4, 10, 0, tzinfo=UTC)
    within = rotated_at + ROTATION_OVERLAP - timedelta(seconds=1)
    assert valid_secrets("new", "old", rotated_at, within) == ["new", "old"]
    assert valid_secrets("new", "old", rotated_at, rotated_at + ROTATION_OVERLAP) == ["new"]
    assert valid_secrets("new", None, None, rotated_at) == ["new"]
    assert timedelta(hours=24) == ROTATION_OVERLAP


def test_secrets_are_32_random_bytes_in_standard_base64() -> None:
    first, second = new_webhook_secret(), new_webhook_secret()
    assert first != second and first.startswith("whsec_")
    assert len(base64.b64decode(first.removeprefix("whsec_"), validate=True)) == 32


def test_message_ids_are_unique() -> None:
    first, second = new_message_id(), new_message_id()
    assert first != second and first.startswith("msg_")
