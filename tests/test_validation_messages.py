"""Validation messages in plain words: a value of the wrong format is told what the format means
(never shown the regular expression), and pydantic's "Input should ..." reads "Must ..."."""

from typing import Any

import pytest

from replyd.channels.kinds import KINDS, checked_credentials
from replyd.errors import FieldProblem, ValidationFailed
from tests.api.test_errors import assert_error
from tests.conftest import Tenant

TWILIO = {"account_sid": "AC" + "0" * 32, "auth_token": "token", "from_number": "+14155550100"}


def problems(kind: str, credentials: dict[str, Any]) -> list[FieldProblem]:
    with pytest.raises(ValidationFailed) as refused:
        checked_credentials(KINDS[kind], credentials)
    return list(refused.value.problems)


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (
            {"from_number": "0151 5555"},
            "credentials.from_number",
            "Must be a phone number in international form (E.164), like +14155550100.",
        ),
        (
            {"account_sid": "SK123"},
            "credentials.account_sid",
            "Must be AC and 32 hexadecimal digits, as Twilio's console shows it.",
        ),
        ({"auth_token": ""}, "credentials.auth_token", "Must not be empty."),
        ({"auth_token": 42}, "credentials.auth_token", "Must be a valid string."),
        ({"region": "eu"}, "credentials.region", "This is not a field here; check its spelling."),
    ],
)
def test_a_wrong_value_is_told_what_it_must_be(change: dict[str, Any], field: str, message: str) -> None:
    assert problems("twilio", TWILIO | change) == [FieldProblem(field, message)]


def test_a_missing_value_is_required() -> None:
    missing = {key: value for key, value in TWILIO.items() if key != "auth_token"}
    assert problems("twilio", missing) == [FieldProblem("credentials.auth_token", "This field is required.")]


async def test_the_api_says_it_in_its_envelope(tenant: Tenant) -> None:
    body = {"assistant_id": tenant.assistant_id, "kind": "telegram", "credentials": {"bot_token": "nope"}}
    refused = assert_error(await tenant.client.post("/api/channels", json=body), 422, "VALIDATION_ERROR")
    [detail] = refused["details"]
    assert detail == {
        "field": "credentials.bot_token",
        "message": "Must be a bot token as @BotFather gives it: digits, a colon, then 20 or more letters.",
    }
