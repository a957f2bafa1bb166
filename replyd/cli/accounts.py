"""``replyd accounts`` and ``replyd tokens``: tenants, their balance and their API tokens."""

from typing import Any

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from replyd.cli.common import JsonOption, console, emit, fail, load_settings, with_services
from replyd.money import format_micros, parse_amount
from replyd.services import Services
from replyd.services.accounts import NewAccount, NewToken, TokenListing
from replyd.services.views import AccountView

accounts_app = typer.Typer(help="Create accounts, top them up, show their balance.", no_args_is_help=True)
tokens_app = typer.Typer(help="Create, list and revoke API tokens.", no_args_is_help=True)


def _amount(text: str) -> int:
    try:
        return parse_amount(text)
    except ValueError as exc:
        fail(str(exc))


@accounts_app.command("create")
def create(
    name: str = typer.Argument(..., help="A name to recognise the account by."),
    balance: str = typer.Option("10.00", help="Opening balance, e.g. 10.00."),
    as_json: bool = JsonOption,
) -> None:
    """Create an account with an opening balance and its first API token (scope admin)."""
    balance_micros = _amount(balance)

    async def work(services: Services) -> NewAccount:
        return await services.accounts.create(name, balance_micros)

    new = with_services(load_settings(), work)
    account_id, secret = new.account.id, new.token.secret
    emit(
        as_json,
        {"account_id": account_id, "api_token": secret, "webhook_secret": new.webhook_secret},
        f"Created account [bold]{account_id}[/] ({escape(name)}), balance {format_micros(balance_micros)}.\n"
        f"API token (shown once, keep it safe): [bold]{secret}[/]\n"
        f"Webhook signing secret (verifies webhook-signature, Standard Webhooks): [bold]{new.webhook_secret}[/]",
    )


@accounts_app.command("rotate-secret")
def rotate_secret(account_id: int = typer.Argument(...), as_json: bool = JsonOption) -> None:
    """Replace the account's webhook signing secret; calls are signed with the new one at once,
    and with the old one too for 24 hours, while receivers switch over."""

    async def work(services: Services) -> str:
        return await services.accounts.rotate_webhook_secret(account_id)

    secret = with_services(load_settings(), work)
    emit(
        as_json,
        {"account_id": account_id, "webhook_secret": secret},
        f"New webhook signing secret of account {account_id}: [bold]{secret}[/]\n"
        "Calls carry signatures with the old secret too for 24 hours.",
    )


@accounts_app.command("top-up")
def top_up(
    account_id: int = typer.Argument(...),
    amount: str = typer.Argument(..., help="Amount to add, e.g. 25.00."),
    as_json: bool = JsonOption,
) -> None:
    """Add money to an account's balance (a ledger entry)."""
    amount_micros = _amount(amount)

    async def work(services: Services) -> AccountView:
        return await services.accounts.top_up(account_id, amount_micros)

    balance = with_services(load_settings(), work).balance_micros
    emit(
        as_json,
        {"account_id": account_id, "balance": format_micros(balance), "balance_micros": balance},
        f"Account {account_id}: balance now {format_micros(balance)}.",
    )


@accounts_app.command("balance-alert")
def balance_alert(
    account_id: int = typer.Argument(...),
    threshold: str = typer.Argument(..., help="Alert below this balance, e.g. 5.00; off: never."),
    as_json: bool = JsonOption,
) -> None:
    """Send account.balance_low to the account's event endpoints when a charge takes its
    balance below THRESHOLD."""
    threshold_micros = None if threshold.lower() == "off" else _amount(threshold)

    async def work(services: Services) -> AccountView:
        return await services.accounts.change(account_id, {"balance_low_micros": threshold_micros})

    account = with_services(load_settings(), work)
    shown = None if threshold_micros is None else format_micros(threshold_micros)
    emit(
        as_json,
        {"account_id": account_id, "balance_low_threshold": shown, "balance": format_micros(account.balance_micros)},
        f"Account {account_id}: "
        + (f"account.balance_low is sent below {shown}." if shown else "no low-balance alert."),
    )


@accounts_app.command("retention")
def retention(
    account_id: int = typer.Argument(...),
    days: str = typer.Argument(..., help="Keep conversations this many days after their last message; off: for ever."),
    as_json: bool = JsonOption,
) -> None:
    """Erase the account's conversations once idle for DAYS days (checked every ten minutes by
    each serving process), as DELETE /api/conversations/{id} erases one; off keeps them for ever."""
    retention_days = None if days.lower() == "off" else _days(days)

    async def work(services: Services) -> AccountView:
        return await services.accounts.change(account_id, {"conversation_retention_days": retention_days})

    with_services(load_settings(), work)
    emit(
        as_json,
        {"account_id": account_id, "conversation_retention_days": retention_days},
        f"Account {account_id}: "
        + (
            f"conversations idle for {retention_days} days are erased."
            if retention_days
            else "conversations are kept for ever."
        ),
    )


def _days(text: str) -> int:
    if not text.isdigit():
        fail(f"{text!r} is not a number of days; give one like 90, or off to keep conversations for ever.")
    return int(text)


@accounts_app.command("show")
def show(account_id: int = typer.Argument(...), as_json: bool = JsonOption) -> None:
    """Show an account's balance."""

    async def work(services: Services) -> AccountView:
        return await services.accounts.get(account_id)

    account = with_services(load_settings(), work)
    balance, threshold = format_micros(account.balance_micros), account.balance_low_micros
    emit(
        as_json,
        {
            "account_id": account_id,
            "name": account.name,
            "currency": account.currency,
            "balance": balance,
            "balance_micros": account.balance_micros,
            "balance_low_threshold": None if threshold is None else format_micros(threshold),
            "conversation_retention_days": account.conversation_retention_days,
        },
        f"Account {account_id} ({escape(account.name)}): balance {balance} {account.currency}"
        + (f", alert below {format_micros(threshold)}" if threshold is not None else "")
        + (
            f", conversations erased after {account.conversation_retention_days} idle days."
            if account.conversation_retention_days
            else "."
        ),
    )


@tokens_app.command("create")
def create_token(
    account_id: int = typer.Argument(...),
    scope: str = typer.Option(
        "replies",
        help="replies: generate replies and read conversations (for the systems that answer customers); "
        "admin: every endpoint of the account; operator: one person's sign-in to the console's "
        "conversations (no API; needs --name).",
    ),
    rate_limit: str | None = typer.Option(None, help="This token's generate-reply limit, e.g. 60/minute."),
    name: str | None = typer.Option(None, help="Whose token it is, e.g. Anna; required for an operator token."),
    as_json: bool = JsonOption,
) -> None:
    """Create an API token for an account; it is shown once. Least privilege by default."""

    async def work(services: Services) -> NewToken:
        return await services.accounts.create_token(account_id, scope, rate_limit, name)

    new = with_services(load_settings(), work)
    emit(
        as_json,
        {"token_id": new.token_id, "api_token": new.secret, "scope": scope, "name": new.name},
        f"Created {scope} token {new.token_id} for account {account_id} (shown once): [bold]{new.secret}[/]",
    )


@tokens_app.command("list")
def list_tokens(account_id: int = typer.Argument(...), as_json: bool = JsonOption) -> None:
    """An account's API tokens, newest first, revoked ones too (never the tokens themselves)."""

    async def work(services: Services) -> list[TokenListing]:
        await services.accounts.get(account_id)  # an account that is not there says so
        return await services.accounts.tokens(account_id)

    tokens = with_services(load_settings(), work)
    if as_json:
        emit(True, {"account_id": account_id, "tokens": [_token_json(t) for t in tokens]}, "")
        return
    table = Table(
        "id",
        "starts with",
        "scope",
        "name",
        "rate limit",
        "created (UTC)",
        "revoked (UTC)",
        box=box.SIMPLE_HEAD,
        pad_edge=False,
    )
    for t in tokens:
        revoked = t.revoked_at.strftime("%Y-%m-%d %H:%M") if t.revoked_at else ""
        table.add_row(
            str(t.id),
            t.prefix,
            t.scope,
            t.name or "",
            t.rate_limit or "default",
            t.created_at.strftime("%Y-%m-%d %H:%M"),
            revoked,
        )
    console.print(table)


def _token_json(token: TokenListing) -> dict[str, Any]:
    return {
        "id": token.id,
        "prefix": token.prefix,
        "scope": token.scope,
        "name": token.name,
        "rate_limit": token.rate_limit,
        "created_at": token.created_at.isoformat(),
        "revoked_at": token.revoked_at.isoformat() if token.revoked_at else None,
    }


@tokens_app.command("revoke")
def revoke(token_id: int = typer.Argument(...), as_json: bool = JsonOption) -> None:
    """Revoke an API token; requests with it get 401 from then on."""

    async def work(services: Services) -> bool:
        return await services.accounts.revoke_token(token_id)

    was_active = with_services(load_settings(), work)
    emit(
        as_json,
        {"token_id": token_id, "revoked": True},
        f"Token {token_id} revoked." if was_active else f"Token {token_id} was already revoked.",
    )
