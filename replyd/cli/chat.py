"""``replyd chat``: talk to an assistant in the terminal, through the same reply pipeline
(memory, variables, charging) as the HTTP API."""

import asyncio

import typer
from rich.markup import escape
from rich.prompt import Prompt

from replyd.cli.common import console, errors, load_settings, with_services
from replyd.engine.receive import ReplyRequest
from replyd.engine.settings_cache import Caller
from replyd.errors import ReplydError
from replyd.services import Services

QUIT = {"/quit", "/exit"}


def chat(
    assistant_id: int = typer.Argument(...),
    customer: str = typer.Option("terminal", help="The customer identifier to talk as; same id, same memory."),
) -> None:
    """Chat with an assistant in the terminal (type /quit or Ctrl-D to leave)."""
    with_services(load_settings(), lambda services: _chat(services, assistant_id, customer))


async def _chat(services: Services, assistant_id: int, customer: str) -> None:
    assistant = await services.assistants.get(None, assistant_id)
    errors.print(
        f"Talking to [bold]{escape(assistant.name)}[/] ({assistant.config.model}) as {escape(repr(customer))}. "
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
            services.conversations.check_message(message)
            request = ReplyRequest(assistant_id, customer, message)
            result = await services.replies.reply(Caller(assistant.account_id), request)
        except ReplydError as exc:
            errors.print(f"[red]{exc.error_code}:[/] {escape(exc.message)}")
            continue
        reply = escape(result.reply) if result.reply else "(AI disabled: a human will answer)"
        console.print(f"[bold green]{escape(assistant.name)}[/]: {reply}")


def register(app: typer.Typer) -> None:
    app.command("chat")(chat)
