"""What every command shares: settings, a database session, and output for people or scripts."""

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape
from sqlalchemy.ext.asyncio import AsyncSession

from replyd.settings import Settings
from replyd.store.migrate import upgrade_database
from replyd.store.session import create_engine, session_factory

T = TypeVar("T")

console = Console(soft_wrap=True)
errors = Console(stderr=True, soft_wrap=True)

JsonOption = typer.Option(False, "--json", help="Print one JSON object, for scripts.")


def load_settings() -> Settings:
    return Settings()


def fail(message: str) -> NoReturn:
    errors.print(f"[bold red]error:[/] {escape(message)}")
    raise typer.Exit(1)


def emit(as_json: bool, data: dict[str, Any], text: str) -> None:
    """One JSON object on stdout for scripts, or ``text`` (Rich markup) for people."""
    if as_json:
        sys.stdout.write(json.dumps(data) + "\n")
    else:
        console.print(text)


def in_transaction(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    """Migrate the database if needed, then run ``work`` in one committed transaction."""
    upgrade_database(settings.database_url)

    async def run() -> T:
        engine = create_engine(settings.database_url)
        try:
            async with session_factory(engine)() as session, session.begin():
                return await work(session)
        finally:
            await engine.dispose()

    return asyncio.run(run())
