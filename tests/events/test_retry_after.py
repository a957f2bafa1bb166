"""``Retry-After`` as receivers send it: seconds, or an HTTP date; anything else is no request."""

from datetime import timedelta
from email.utils import format_datetime

import pytest

from replyd.clock import utcnow
from replyd.outbound import retry_after_s


@pytest.mark.parametrize(("value", "expected"), [("120", 120.0), (" 7 ", 7.0), ("0", 0.0)])
def test_seconds_are_read_as_they_are(value: str, expected: float) -> None:
    assert retry_after_s(value) == expected


def test_a_date_is_the_time_until_it_and_a_past_one_is_now() -> None:
    later = retry_after_s(format_datetime(utcnow() + timedelta(seconds=60), usegmt=True))
    assert later is not None and 58 <= later <= 60
    assert retry_after_s(format_datetime(utcnow() - timedelta(hours=1), usegmt=True)) == 0.0


@pytest.mark.parametrize("value", [None, "", "soon", "-5", "1.5e3", "Wed, 31 Feb 2026 25:00:00"])
def test_anything_else_asks_for_nothing(value: str | None) -> None:
    assert retry_after_s(value) is None
