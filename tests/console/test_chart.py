"""The usage page's SVG charts: a sensible axis, one bar per value, text escaped, and an
accessible name and description."""

from datetime import date

from replyd.console.chart import Bar, bar_chart, column_chart, nice_ceiling
from replyd.console.routes.usage import DAYS, day_bars


def test_the_axis_maximum_is_a_round_number_at_or_above_the_largest_value() -> None:
    assert [nice_ceiling(v) for v in (0, 1, 7, 10, 11, 19_000, 21_000, 240_000, 999_999)] == [
        10_000,
        1,
        10,
        10,
        20,
        20_000,
        25_000,
        250_000,
        1_000_000,
    ]


def test_a_column_chart_draws_one_bar_per_day_with_an_accessible_name() -> None:
    bars = day_bars([("2026-11-20", 30_000, 3), ("2026-11-26", 10_000, 1)], date(2026, 11, 26))
    assert len(bars) == DAYS and bars[-1] == Bar("2026-11-26", 10_000, "1 reply")
    assert bars[-7] == Bar("2026-11-20", 30_000, "3 replies") and bars[0].value_micros == 0
    svg = column_chart("per-day", "Spend per day", "What replies cost.", bars, "EUR")
    assert svg.count('<rect class="bar"') == DAYS
    assert 'role="img" aria-labelledby="per-day-title per-day-desc"' in svg
    assert "<title>2026-11-20: 0.03 EUR, 3 replies</title>" in svg
    assert ">11-26</text>" in svg and ">11-19</text>" in svg, "every seventh day, counted from today, is named"


def test_a_bar_chart_escapes_names() -> None:
    svg = bar_chart("a", "Spend", "Per assistant", [Bar("<script>x</script>", 5_000, "2 replies")], "EUR")
    assert "<script>" not in svg and "&lt;script&gt;" in svg
    assert "0.005 EUR" in svg
    empty = bar_chart("b", "Spend", "Per assistant", [], "EUR")
    assert "Nothing spent yet." in empty
