"""``replyd chat``: talk to an assistant in the terminal, through the same reply pipeline
(memory, variables, charging) as the HTTP API."""

import asyncio

import typer
from rich.markup import escape
from rich.prompt import Prompt

from replyd.api.state import AppState
from replyd.cli.common import console, errors, fail, load_settings
from replyd.engine.receive import ReplyRequest
from replyd.engine.settings_cache import Caller
from replyd.errors import ReplydError
from replyd.store.migrate import upgrade_database
from replyd.store.tables import Assistant
from replyd.telemetry import Telemetry

QUIT = {"/quit", "/exit"}


def chat(
    assistant_id: int = typer.Argument(...),
    customer: str = typer.Option("terminal", help="The customer identifier to talk as; same id, same memory."),
) -> None:
    """Chat with an assistant in the terminal (type /quit or Ctrl-D to leave)."""
    settings = load_settings()
    upgrade_database(settings.database_url)
    asyncio.run(_chat(AppState.build(settings, Telemetry()), assistant_id, customer))


async def _chat(state: AppState, assistant_id: int, customer: str) -> None:
    try:
        async with state.sessions() as session:
            assistant = await session.get(Assistant, assistant_id)
        if assistant is None:
            fail(f"no assistant {assistant_id}")
        errors.print(
            f"Talking to [bold]{escape(assistant.name)}[/] ({assistant.model}) as {escape(repr(customer))}. "
            "/quit to leave."
        )
        while True:
            try:
                message = await asyncio.to_thread(Prompt.ask, "[bold cyan]you[/]", console=console)
            except EOFError:
                break
            if message.strip() in QUIT:
                break
            if not message.strip():
                continue
            try:
                request = ReplyRequest(assistant_id, customer, message)
                result = await state.replies.reply(Caller(assistant.account_id), request)
            except ReplydError as exc:
                errors.print(f"[red]{exc.error_code}:[/] {escape(exc.message)}")
                continue
            reply = escape(result.reply) if result.reply else "(AI disabled: a human will answer)"
            console.print(f"[bold green]{escape(assistant.name)}[/]: {reply}")
    finally:
        await state.aclose()


def register(app: typer.Typer) -> None:
    app.command("chat")(chat)
