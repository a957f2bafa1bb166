"""``replyd conversations``: what customers and assistants said, across every account, and a
human operator stepping in. Operators see all accounts, so commands take conversation ids."""

import json
from datetime import datetime
from typing import Any, Literal

import typer
from rich import box
from rich.markup import escape
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from replyd.cli.common import JsonOption, console, emit, fail, in_transaction, load_settings
from replyd.money import format_micros
from replyd.store import conversations as store
from replyd.store.conversations import ConversationFilter, ConversationSummary
from replyd.store.tables import Assistant, Conversation, Message

conversations_app = typer.Typer(
    help="List and read conversations; take one over from the AI and answer as a human.", no_args_is_help=True
)

ConversationType = Literal["api", "widget", "test"]


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def _summary_json(summary: ConversationSummary) -> dict[str, Any]:
    conversation = summary.conversation
    return {
        "id": conversation.id,
        "account_id": conversation.account_id,
        "assistant_id": conversation.assistant_id,
        "assistant_name": summary.assistant_name,
        "customer_identifier": conversation.customer_identifier,
        "type": conversation.type,
        "message_count": summary.message_count,
        "total_cost": format_micros(summary.total_cost_micros),
        "ai_enabled": not conversation.ai_disabled,
        "variables": conversation.variables,
        "created_at": conversation.created_at.isoformat(),
        "updated_at": conversation.updated_at.isoformat(),
    }


def _message_json(message: Message) -> dict[str, Any]:
    return {
        "role": message.role,
        "author": message.author,
        "content": message.content,
        "function_calls": message.function_calls,
        "created_at": message.created_at.isoformat(),
    }


async def _find(session: AsyncSession, conversation_id: str) -> Conversation:
    conversation = await store.get_any_conversation(session, conversation_id)
    if conversation is None:
        fail(f"no conversation {conversation_id}")
    return conversation


@conversations_app.command("list")
def list_(
    account: int | None = typer.Option(None, "--account", help="Only this account's."),
    assistant: int | None = typer.Option(None, "--assistant", help="Only this assistant's."),
    customer: str | None = typer.Option(None, "--customer", help="Only this customer identifier's."),
    type: ConversationType | None = typer.Option(None, "--type", help="Only generate-reply, widget or test chats."),
    limit: int = typer.Option(20, min=1, help="At most this many, newest activity first."),
    as_json: bool = JsonOption,
) -> None:
    """List conversations, newest activity first."""
    where = ConversationFilter(assistant_id=assistant, type=type, customer_identifier=customer)

    async def work(session: AsyncSession) -> list[ConversationSummary]:
        return await store.list_conversations(session, account, where, limit)

    summaries = in_transaction(load_settings(), work)
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
            str(summary.message_count),
            conversation.updated_at.strftime("%Y-%m-%d %H:%M"),
            "[bold red]AI off[/]" if conversation.ai_disabled else "on",
        )
    console.print(table)


@conversations_app.command("show")
def show(conversation_id: str = typer.Argument(...), as_json: bool = JsonOption) -> None:
    """Show a conversation and its history, oldest message first."""

    async def work(session: AsyncSession) -> tuple[Conversation, str, list[Message]]:
        conversation = await _find(session, conversation_id)
        assistant = await session.get(Assistant, conversation.assistant_id)
        name = assistant.name if assistant is not None else "?"
        return conversation, name, await store.all_messages(session, conversation.id)

    conversation, assistant_name, messages = in_transaction(load_settings(), work)
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
            "history": [_message_json(m) for m in messages],
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
        for call in message.function_calls:
            name = escape(str(call.get("name")))
            arguments = escape(json.dumps(call.get("arguments"), ensure_ascii=False))
            result = escape(json.dumps(call.get("result"), ensure_ascii=False))
            console.print(f"    [cyan]called {name}[/]({arguments}) -> {result}")


def _set_ai(conversation_id: str, enabled: bool, as_json: bool) -> None:
    async def work(session: AsyncSession) -> bool:
        conversation = await _find(session, conversation_id)
        if conversation.ai_disabled != enabled:
            return False
        await store.set_ai_disabled(session, conversation.id, not enabled)
        return True

    changed = in_transaction(load_settings(), work)
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
    """Add a human operator's message; the model later sees it as the assistant's. Never charged."""
    settings = load_settings()
    if not message.strip():
        fail("the message is empty")
    if len(message) > settings.max_message_chars:
        fail(f"the message must be at most {settings.max_message_chars} characters (it has {len(message)})")

    async def work(session: AsyncSession) -> Message:
        conversation = await _find(session, conversation_id)
        message_id = await store.add_message(
            session, conversation.id, role="assistant", author="agent", content=message
        )
        await store.touch_conversation(session, conversation.id, conversation.variables)
        return await store.get_message(session, message_id)

    stored = in_transaction(settings, work)
    emit(
        as_json,
        {"conversation_id": conversation_id, "message": _message_json(stored)},
        f"Stored your message in conversation {conversation_id}.",
    )
