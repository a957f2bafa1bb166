"""Bar charts as inline SVG, drawn on the server: no charting library, no script, and they
print. Colours come from the console's stylesheet (classes, no inline styles, which the
Content-Security-Policy forbids). Each chart is an image with a title and a description;
the page lists the same numbers in a table for screen readers and for copying."""

import math
from dataclasses import dataclass

from markupsafe import Markup, escape

from replyd.money import format_micros

WIDTH = 400
FONT_PX = 12
LABEL_EVERY = 7
"""A column chart names every seventh column (a week of days)."""


@dataclass(frozen=True)
class Bar:
    label: str
    value_micros: int
    note: str = ""
    """Said in the bar's tooltip after the amount, e.g. "12 replies"."""


def nice_ceiling(value: int) -> int:
    """The axis maximum: the smallest of 1, 2, 2.5, 5 x 10^n at or above ``value``."""
    if value <= 0:
        return 10_000  # 0.01: an empty chart still gets an axis
    magnitude = 10 ** math.floor(math.log10(value))
    for step in (1, 2, 2.5, 5, 10):
        if value <= step * magnitude:
            return int(step * magnitude)
    return int(10 * magnitude)


def _amount(micros: int, currency: str) -> str:
    return f"{format_micros(micros)} {currency}"


def _tooltip(bar: Bar, currency: str) -> str:
    return f"{bar.label}: {_amount(bar.value_micros, currency)}" + (f", {bar.note}" if bar.note else "")


def _frame(chart_id: str, title: str, description: str, height: int, body: list[str]) -> Markup:
    head = (
        f'<svg class="chart" viewBox="0 0 {WIDTH} {height}" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" font-size="{FONT_PX}">'
        f'<title id="{chart_id}-title">{escape(title)}</title><desc id="{chart_id}-desc">{escape(description)}</desc>'
    )
    return Markup(head + "".join(body) + "</svg>")


def column_chart(chart_id: str, title: str, description: str, bars: list[Bar], currency: str) -> Markup:
    """Vertical bars, one per label (days, oldest left), with a money axis on the left."""
    height, left, bottom, top = 200, 44, 26, 10
    plot_w, plot_h = WIDTH - left - 8, height - bottom - top
    ceiling = nice_ceiling(max((b.value_micros for b in bars), default=0))
    body: list[str] = []
    for n in range(5):
        y = top + plot_h - plot_h * n / 4
        body.append(f'<line class="grid" x1="{left}" x2="{WIDTH - 8}" y1="{y:.1f}" y2="{y:.1f}"/>')
        tick = format_micros(ceiling * n // 4)
        body.append(f'<text class="axis" x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{tick}</text>')
    slot = plot_w / max(len(bars), 1)
    last = len(bars) - 1
    for n, bar in enumerate(bars):
        bar_h = plot_h * bar.value_micros / ceiling
        x = left + n * slot + slot * 0.15
        body.append(
            f'<rect class="bar" x="{x:.1f}" y="{top + plot_h - bar_h:.1f}" width="{slot * 0.7:.1f}" '
            f'height="{bar_h:.1f}"><title>{escape(_tooltip(bar, currency))}</title></rect>'
        )
        if (last - n) % LABEL_EVERY == 0:  # counted back from the newest bar, which is always labelled
            anchor = "end" if n == last else "middle"
            body.append(
                f'<text class="axis" x="{x + (slot * 0.7 if n == last else slot * 0.35):.1f}" y="{height - 8}" '
                f'text-anchor="{anchor}">{escape(bar.label[5:] if len(bar.label) == 10 else bar.label)}</text>'
            )
    return _frame(chart_id, title, description, height, body)


def bar_chart(chart_id: str, title: str, description: str, bars: list[Bar], currency: str) -> Markup:
    """Horizontal bars, one row per label, the name above its bar and the amount after it."""
    row_h, top = 44, 4
    height = top + row_h * max(len(bars), 1)
    ceiling = max((b.value_micros for b in bars), default=0) or 1
    plot_w = WIDTH - 110
    body: list[str] = []
    if not bars:
        body.append(f'<text class="axis" x="0" y="{top + 20}">Nothing spent yet.</text>')
    for n, bar in enumerate(bars):
        y = top + n * row_h
        width = max(plot_w * bar.value_micros / ceiling, 2)
        body.append(f'<text class="label" x="0" y="{y + 14}">{escape(bar.label)}</text>')
        body.append(
            f'<rect class="bar" x="0" y="{y + 20}" width="{width:.1f}" height="16" rx="2">'
            f"<title>{escape(_tooltip(bar, currency))}</title></rect>"
        )
        body.append(
            f'<text class="value" x="{width + 6:.1f}" y="{y + 33}">{escape(_amount(bar.value_micros, currency))}</text>'
        )
    return _frame(chart_id, title, description, height, body)
