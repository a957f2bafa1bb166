"""Balance, and what was spent per day and per assistant, drawn as SVG on the server."""

from datetime import date, timedelta

from fastapi import APIRouter, Request, Response

from replyd.app_state import State
from replyd.console.chart import Bar, bar_chart, column_chart
from replyd.console.sessions import AdminSignedIn
from replyd.console.web import ConsoleRoute, render_page
from replyd.services.usage import DEFAULT_DAYS, Days

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)

DAYS = DEFAULT_DAYS
"""The page shows the API's default range: its totals are the same figures."""
LEDGER_ROWS = 20


def _replies(count: int) -> str:
    return f"{count} {'reply' if count == 1 else 'replies'}"


def day_bars(per_day: list[tuple[str, int, int]], today: date) -> list[Bar]:
    """One bar for each of the last ``DAYS`` days, today's last; days without charges are 0."""
    spent = {day: (micros, count) for day, micros, count in per_day}
    days = [(today - timedelta(days=n)).isoformat() for n in reversed(range(DAYS))]
    return [Bar(day, spent.get(day, (0, 0))[0], _replies(spent.get(day, (0, 0))[1])) for day in days]


@router.get("/console/usage")
async def usage_page(request: Request, state: State, operator: AdminSignedIn) -> Response:
    account = await state.accounts.get(operator.account_id)
    usage = await state.usage.usage(operator.account_id, LEDGER_ROWS, None, Days.of(None, None))
    names = {a.id: a.name for a in await state.assistants.list(operator.account_id)}
    days = day_bars(usage.per_day, usage.days.until)
    per_assistant = [
        Bar(names.get(a, f"Assistant {a} (deleted)"), micros, _replies(count))
        for a, micros, count in usage.per_assistant
    ]
    currency = account.currency
    context = {
        "active": "usage",
        "account": account,
        "entries": usage.entries,
        "assistant_names": names,
        "days": days,
        "per_assistant": per_assistant,
        "day_chart": column_chart(
            "per-day", "Spend per day", f"What replies cost on each of the last {DAYS} days.", days, currency
        ),
        "assistant_chart": bar_chart(
            "per-assistant",
            "Spend per assistant",
            f"What each assistant's replies cost over the last {DAYS} days.",
            per_assistant,
            currency,
        ),
    }
    return await render_page(request, state, operator, "usage.html", context)
