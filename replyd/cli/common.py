"""What every command shares: settings, the services, and output for people or scripts."""

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from replyd.errors import ReplydError, ValidationFailed
from replyd.services import Services
from replyd.settings import Settings
from replyd.store.migrate import upgrade_database

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


def with_services(settings: Settings, work: Callable[[Services], Awaitable[T]]) -> T:
    """Migrate the database if needed, then run ``work`` with replyd's services, the same the
    API and the console act through. A refusal of theirs ends the command with its message."""
    upgrade_database(settings.database_url)

    async def run() -> T:
        async with Services.running(settings) as services:
            return await work(services)

    try:
        return asyncio.run(run())
    except ValidationFailed as failed:
        fail("\n".join(f"{problem.field}: {problem.message}" for problem in failed.problems))
    except ReplydError as error:
        fail(error.message)
