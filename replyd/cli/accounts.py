"""``replyd accounts`` and ``replyd tokens``: tenants, their balance and their API tokens."""

import typer
from rich.markup import escape
from sqlalchemy.ext.asyncio import AsyncSession

from replyd.cli.common import JsonOption, emit, fail, in_transaction, load_settings
from replyd.limits import parse_rate
from replyd.money import format_micros, parse_amount
from replyd.store import accounts as store
from replyd.store import ledger

accounts_app = typer.Typer(help="Create accounts, top them up, show their balance.", no_args_is_help=True)
tokens_app = typer.Typer(help="Create and revoke API tokens.", no_args_is_help=True)


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
    if balance_micros < 0:
        fail("an opening balance cannot be negative")

    async def work(session: AsyncSession) -> tuple[int, str, str]:
        account = await store.create_account(session, name, balance_micros)
        new = await store.create_token(session, account.id, scope="admin")
        return account.id, new.secret, account.webhook_secret

    account_id, secret, webhook_secret = in_transaction(load_settings(), work)
    emit(
        as_json,
        {"account_id": account_id, "api_token": secret, "webhook_secret": webhook_secret},
        f"Created account [bold]{account_id}[/] ({escape(name)}), balance {format_micros(balance_micros)}.\n"
        f"API token (shown once, keep it safe): [bold]{secret}[/]\n"
        f"Webhook signing secret (verifies X-Replyd-Signature): [bold]{webhook_secret}[/]",
    )


@accounts_app.command("rotate-secret")
def rotate_secret(account_id: int = typer.Argument(...), as_json: bool = JsonOption) -> None:
    """Replace the account's webhook signing secret; calls are signed with the new one at once."""

    async def work(session: AsyncSession) -> str:
        secret = await store.rotate_webhook_secret(session, account_id)
        if secret is None:
            fail(f"no account {account_id}")
        return secret

    secret = in_transaction(load_settings(), work)
    emit(
        as_json,
        {"account_id": account_id, "webhook_secret": secret},
        f"New webhook signing secret of account {account_id}: [bold]{secret}[/]",
    )


@accounts_app.command("top-up")
def top_up(
    account_id: int = typer.Argument(...),
    amount: str = typer.Argument(..., help="Amount to add, e.g. 25.00."),
    as_json: bool = JsonOption,
) -> None:
    """Add money to an account's balance (a ledger entry)."""
    amount_micros = _amount(amount)
    if amount_micros <= 0:
        fail("a top-up must be a positive amount")

    async def work(session: AsyncSession) -> int:
        if await store.get_account(session, account_id) is None:
            fail(f"no account {account_id}; create one with `replyd accounts create NAME`")
        await ledger.record(session, account_id, "top_up", amount_micros)
        return await ledger.balance_micros(session, account_id)

    balance = in_transaction(load_settings(), work)
    emit(
        as_json,
        {"account_id": account_id, "balance": format_micros(balance), "balance_micros": balance},
        f"Account {account_id}: balance now {format_micros(balance)}.",
    )


@accounts_app.command("show")
def show(account_id: int = typer.Argument(...), as_json: bool = JsonOption) -> None:
    """Show an account's balance."""

    async def work(session: AsyncSession) -> tuple[str, str, int]:
        account = await store.get_account(session, account_id)
        if account is None:
            fail(f"no account {account_id}")
        return account.name, account.currency, account.balance_micros

    name, currency, balance = in_transaction(load_settings(), work)
    emit(
        as_json,
        {
            "account_id": account_id,
            "name": name,
            "currency": currency,
            "balance": format_micros(balance),
            "balance_micros": balance,
        },
        f"Account {account_id} ({escape(name)}): balance {format_micros(balance)} {currency}.",
    )


@tokens_app.command("create")
def create_token(
    account_id: int = typer.Argument(...),
    scope: str = typer.Option(
        "replies",
        help="replies: generate replies and read conversations (for the systems that answer customers); "
        "admin: every endpoint of the account.",
    ),
    rate_limit: str | None = typer.Option(None, help="This token's generate-reply limit, e.g. 60/minute."),
    as_json: bool = JsonOption,
) -> None:
    """Create an API token for an account; it is shown once. Least privilege by default."""
    if scope not in store.SCOPES:
        fail(f"{scope!r} is not a scope; use one of: {', '.join(store.SCOPES)}")
    if rate_limit is not None:
        try:
            parse_rate(rate_limit)
        except ValueError as exc:
            fail(str(exc))

    async def work(session: AsyncSession) -> tuple[int, str]:
        if await store.get_account(session, account_id) is None:
            fail(f"no account {account_id}")
        new = await store.create_token(session, account_id, rate_limit, scope=scope)
        return new.token.id, new.secret

    token_id, secret = in_transaction(load_settings(), work)
    emit(
        as_json,
        {"token_id": token_id, "api_token": secret, "scope": scope},
        f"Created {scope} token {token_id} for account {account_id} (shown once): [bold]{secret}[/]",
    )


@tokens_app.command("revoke")
def revoke(token_id: int = typer.Argument(...), as_json: bool = JsonOption) -> None:
    """Revoke an API token; requests with it get 401 from then on."""

    async def work(session: AsyncSession) -> bool:
        if await store.get_token(session, token_id) is None:
            fail(f"no token {token_id}")
        return await store.revoke_token(session, token_id)

    was_active = in_transaction(load_settings(), work)
    emit(
        as_json,
        {"token_id": token_id, "revoked": True},
        f"Token {token_id} revoked." if was_active else f"Token {token_id} was already revoked.",
    )
