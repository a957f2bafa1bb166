"""``replyd conversations``: what customers and assistants said, across every account, and a
human operator stepping in. Operators see all accounts, so commands take conversation ids."""

import json
from datetime import datetime
from typing import Any, Literal

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from replyd.cli.common import JsonOption, console, emit, load_settings, with_services
from replyd.errors import NotFound
from replyd.money import format_micros
from replyd.services import Services
from replyd.services.conversations import HISTORY_LIMIT
from replyd.services.list_filters import list_filter
from replyd.services.views import ChannelDeliveryView, ConversationHistory, ConversationListing, MessageView

conversations_app = typer.Typer(
    help="List and read conversations; take one over from the AI and answer as a human.", no_args_is_help=True
)

ConversationType = Literal["api", "widget", "test"]
AiState = Literal["on", "off"]


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _summary_json(summary: ConversationListing) -> dict[str, Any]:
    conversation = summary.conversation
    return {
        "id": conversation.id,
        "account_id": conversation.account_id,
        "assistant_id": conversation.assistant_id,
        "assistant_name": summary.assistant_name,
        "customer_identifier": conversation.customer_identifier,
        "type": conversation.type,
        "message_count": summary.conversation.message_count,
        "total_cost": format_micros(summary.conversation.total_cost_micros),
        "ai_enabled": not conversation.ai_disabled,
        "variables": conversation.variables,
        "created_at": conversation.created_at.isoformat(),
        "updated_at": conversation.updated_at.isoformat(),
    }


def _message_json(message: MessageView) -> dict[str, Any]:
    return {
        "role": message.role,
        "author": message.author,
        "content": message.content,
        "function_calls": message.function_calls,
        "created_at": message.created_at.isoformat(),
    }


def _delivery_json(delivery: ChannelDeliveryView | None) -> dict[str, Any] | None:
    """What became of a message sent on the conversation's channel; None for the others."""
    return None if delivery is None else {"status": delivery.status, "error": delivery.error}


@conversations_app.command("list")
def list_(
    account: int | None = typer.Option(None, "--account", help="Only this account's."),
    assistant: int | None = typer.Option(None, "--assistant", help="Only this assistant's."),
    customer: str | None = typer.Option(None, "--customer", help="Only this customer identifier's."),
    search: str | None = typer.Option(
        None,
        "--search",
        "-s",
        help="Only those whose customer identifier or a variable's value holds this text (any part, case aside), "
        "or with a message holding each of its words.",
    ),
    type: ConversationType | None = typer.Option(None, "--type", help="Only generate-reply, widget or test chats."),
    ai: AiState | None = typer.Option(None, "--ai", help="Only those with the AI on, or off."),
    since: datetime | None = typer.Option(
        None, "--since", formats=["%Y-%m-%d"], help="Only those last active on this UTC day or later."
    ),
    until: datetime | None = typer.Option(
        None, "--until", formats=["%Y-%m-%d"], help="Only those last active on this UTC day or earlier."
    ),
    limit: int = typer.Option(20, min=1, help="At most this many, newest activity first."),
    as_json: bool = JsonOption,
) -> None:
    """List conversations, newest activity first; --search finds them by customer, variables or words."""

    async def work(services: Services) -> list[ConversationListing]:
        where = list_filter(
            assistant_id=assistant,
            type=type,
            customer_identifier=customer,
            search=search,
            ai_enabled=None if ai is None else ai == "on",
            since=since and since.date(),
            until=until and until.date(),
            search_field="--search",
        )
        return await services.conversations.list(account, where, limit)

    summaries = with_services(load_settings(), work)
    if as_json:
        emit(True, {"data": [_summary_json(s) for s in summaries]}, "")
        return
    if not summaries:
        console.print("No conversations.")
        return
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    table.add_column("id", no_wrap=True, min_width=36)  # whole, to copy into the other commands
    table.add_column("assistant", overflow="fold")
    table.add_column("customer", overflow="fold")
    table.add_column("type", overflow="fold")
    table.add_column("msgs", justify="right")
    table.add_column("last activity (UTC)", overflow="fold")
    table.add_column("AI", no_wrap=True, min_width=6)
    for summary in summaries:
        conversation = summary.conversation
        table.add_row(
            conversation.id,
            f"{escape(summary.assistant_name)} ({conversation.assistant_id})",
            escape(conversation.customer_identifier or "-"),
            conversation.type,
            str(summary.conversation.message_count),
            conversation.updated_at.strftime("%Y-%m-%d %H:%M"),
            "[bold red]AI off[/]" if conversation.ai_disabled else "on",
        )
    console.print(table)


@conversations_app.command("show")
def show(
    conversation_id: str = typer.Argument(...),
    limit: int = typer.Option(HISTORY_LIMIT, min=1, help="Its newest this many messages."),
    as_json: bool = JsonOption,
) -> None:
    """Show a conversation and its newest messages, oldest first."""

    async def work(services: Services) -> tuple[ConversationHistory, str]:
        history = await services.conversations.get(None, conversation_id, limit)
        try:
            assistant = await services.assistants.get(None, history.conversation.assistant_id)
        except NotFound:  # deleted since
            return history, "?"
        return history, assistant.name

    history, assistant_name = with_services(load_settings(), work)
    conversation, messages = history.conversation, history.messages
    if as_json:
        data = {
            "conversation_id": conversation.id,
            "account_id": conversation.account_id,
            "assistant_id": conversation.assistant_id,
            "assistant_name": assistant_name,
            "customer_identifier": conversation.customer_identifier,
            "type": conversation.type,
            "ai_enabled": not conversation.ai_disabled,
            "variables": conversation.variables,
            "created_at": conversation.created_at.isoformat(),
            "updated_at": conversation.updated_at.isoformat(),
            "history": [
                _message_json(m) | {"delivery": _delivery_json(history.deliveries.get(m.id))} for m in messages
            ],
        }
        emit(True, data, "")
        return
    ai = "[bold red]AI off[/] (a human answers)" if conversation.ai_disabled else "AI on"
    console.print(
        f"[bold]Conversation {conversation.id}[/] ({conversation.type}), account {conversation.account_id}, "
        f"assistant {conversation.assistant_id} ({escape(assistant_name)}), "
        f"customer {escape(conversation.customer_identifier or '-')}; {ai}"
    )
    if conversation.variables:
        console.print(f"variables: {escape(json.dumps(conversation.variables, ensure_ascii=False))}")
    if not messages:
        console.print("No messages yet.")
    for message in messages:
        console.print(
            f"[dim]{_when(message.created_at)}[/] [bold]{message.author}[/] ({message.role}): {escape(message.content)}"
        )
        delivery = history.deliveries.get(message.id)
        if delivery is not None:
            console.print(f"    [dim]on the channel: {delivery.status}[/] {escape(delivery.error or '')}".rstrip())
        for call in message.function_calls:
            name = escape(str(call.get("name")))
            arguments = escape(json.dumps(call.get("arguments"), ensure_ascii=False))
            result = escape(json.dumps(call.get("result"), ensure_ascii=False))
            console.print(f"    [cyan]called {name}[/]({arguments}) -> {result}")


def _set_ai(conversation_id: str, enabled: bool, as_json: bool) -> None:
    async def work(services: Services) -> bool:
        return await services.conversations.set_ai_enabled(None, conversation_id, enabled, "command line")

    changed = with_services(load_settings(), work)
    state = "enabled: the assistant answers again" if enabled else "disabled: a human answers"
    emit(
        as_json,
        {"conversation_id": conversation_id, "ai_enabled": enabled, "changed": changed},
        f"Conversation {conversation_id}: AI {state}." + ("" if changed else " (It already was.)"),
    )


@conversations_app.command("takeover")
def takeover(conversation_id: str = typer.Argument(...), as_json: bool = JsonOption) -> None:
    """Disable the AI: customers' messages are kept and not answered until you release it."""
    _set_ai(conversation_id, False, as_json)


@conversations_app.command("release")
def release(conversation_id: str = typer.Argument(...), as_json: bool = JsonOption) -> None:
    """Enable the AI again: it answers the next message, seeing what you said."""
    _set_ai(conversation_id, True, as_json)


@conversations_app.command("say")
def say(
    conversation_id: str = typer.Argument(...),
    message: str = typer.Argument(..., help="What you tell the customer."),
    as_json: bool = JsonOption,
) -> None:
    """Add a human operator's message; the model later sees it as the assistant's. Never charged.
    It waits for a reply in progress, as the API's and the console's do."""

    async def work(services: Services) -> MessageView:
        return await services.conversations.add_agent_message(None, conversation_id, message)

    stored = with_services(load_settings(), work)
    emit(
        as_json,
        {"conversation_id": conversation_id, "message": _message_json(stored)},
        f"Stored your message in conversation {conversation_id}.",
    )
