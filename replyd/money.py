"""Money is integer micro-units of the account's currency: 1.00 = 1_000_000. Never floats."""

from decimal import ROUND_CEILING, Decimal, InvalidOperation

MICROS = 1_000_000
TOKENS_PER_PRICE_UNIT = 1_000_000
"""Token prices are per one million tokens."""
LARGEST_AMOUNT = 10**12
"""No single amount beyond a trillion: keeps every sum far inside a 64-bit column."""


def parse_amount(text: str | int | float | Decimal) -> int:
    """``"10.00"`` -> ``10_000_000``. Refuses more than six decimals rather than rounding money."""
    try:
        value = Decimal(str(text)) * MICROS
    except InvalidOperation:
        raise ValueError(f"{text!r} is not an amount; write it like 10.00") from None
    if not value.is_finite() or value != value.to_integral_value():
        raise ValueError(f"{text!r} is not an amount with at most six decimals")
    if abs(value) > LARGEST_AMOUNT * MICROS:
        raise ValueError(f"{text!r} is larger than {LARGEST_AMOUNT:,}")
    return int(value)


def format_micros(micros: int) -> str:
    """``10_000_000`` -> ``"10.00"``; keeps the digits a fraction of a cent needs."""
    value = Decimal(micros) / MICROS
    text = f"{value:.6f}".rstrip("0")
    whole, _, fraction = text.partition(".")
    return f"{whole}.{fraction.ljust(2, '0')}"


def reply_cost_micros(
    prompt_tokens: int, completion_tokens: int, input_price_micros: int, output_price_micros: int, fee_micros: int
) -> int:
    """Prompt tokens x input price + completion tokens x output price + the per-reply fee.
    Token prices are per million tokens; a fraction of a micro-unit is rounded up."""
    token_micros = Decimal(prompt_tokens * input_price_micros + completion_tokens * output_price_micros)
    rounded = (token_micros / TOKENS_PER_PRICE_UNIT).to_integral_value(rounding=ROUND_CEILING)
    return int(rounded) + fee_micros
