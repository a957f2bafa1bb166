"""The fault suite's figures: each mid-load scenario records what it sent and what came of it,
and the run ends with them as a table (the one in docs/reliability.md)."""

from dataclasses import astuple, fields

import pytest

from tests.faults.load import Figures

FIGURES = pytest.StashKey[list[Figures]]()


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> list[Figures]:
    """Where a scenario appends its figures."""
    return request.config.stash.setdefault(FIGURES, [])


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter, config: pytest.Config) -> None:
    rows = config.stash.get(FIGURES, [])
    if not rows:
        return
    terminalreporter.write_sep("=", "fault suite figures")
    for line in markdown_table([field.name for field in fields(Figures)], [astuple(row) for row in rows]):
        terminalreporter.write_line(line)


def markdown_table(header: list[str], rows: list[tuple[object, ...]]) -> list[str]:
    return [
        "| " + " | ".join(header) + " |",
        "|" + "---|" * len(header),
        *("| " + " | ".join(str(cell) for cell in row) + " |" for row in rows),
    ]
