import pytest
from hypothesis import given
from hypothesis import strategies as st

from replyd.money import format_micros, parse_amount, reply_cost_micros


@pytest.mark.parametrize(
    ("text", "micros"), [("10.00", 10_000_000), ("0.01", 10_000), ("3", 3_000_000), ("0.000001", 1)]
)
def test_amounts_parse_to_micro_units(text: str, micros: int) -> None:
    assert parse_amount(text) == micros


@pytest.mark.parametrize("text", ["abc", "1.0000001", "NaN", "Infinity", ""])
def test_unreadable_or_too_precise_amounts_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_amount(text)


@given(st.integers(min_value=-(10**15), max_value=10**15))
def test_format_and_parse_round_trip(micros: int) -> None:
    assert parse_amount(format_micros(micros)) == micros


def test_format_shows_cents_at_least() -> None:
    assert [format_micros(m) for m in (10_000_000, 15_830, 1, -2_500_000)] == ["10.00", "0.01583", "0.000001", "-2.50"]


@given(
    st.integers(0, 10**7), st.integers(0, 10**7), st.integers(0, 10**8), st.integers(0, 10**8), st.integers(0, 10**7)
)
def test_cost_is_exact_integer_arithmetic_rounded_up(
    prompt: int, completion: int, input_price: int, output_price: int, fee: int
) -> None:
    cost = reply_cost_micros(prompt, completion, input_price, output_price, fee)
    exact_numerator = prompt * input_price + completion * output_price
    assert isinstance(cost, int)
    assert cost - fee == -(-exact_numerator // 1_000_000)


@pytest.mark.parametrize("text", ["1e400", "1000000000001", "-1000000000001"])
def test_amounts_beyond_a_trillion_are_refused(text: str) -> None:
    with pytest.raises(ValueError, match="larger than"):
        parse_amount(text)
