"""``replyd customers``: a customer's right to erasure, as the API's ``DELETE /api/customers/{id}``
grants it to an account's admins."""

import typer
from rich.markup import escape

from replyd.cli.common import JsonOption, emit, load_settings, with_services
from replyd.services import Services
from replyd.services.conversations import Erasure
from replyd.services.views import ConversationListing
from replyd.store.conversations import ConversationFilter

customers_app = typer.Typer(help="Erase everything an account keeps of one customer.", no_args_is_help=True)

SHOWN_BEFORE_ASKING = 100
"""A customer has one conversation per assistant at most: this is every one of them."""


@customers_app.command("erase")
def erase(
    account_id: int = typer.Argument(...),
    customer_identifier: str = typer.Argument(..., help="As generate-reply got it: phone number, e-mail, CRM id..."),
    yes: bool = typer.Option(False, "--yes", "-y", help="Do not ask; erase at once."),
    as_json: bool = JsonOption,
) -> None:
    """Erase every conversation of the customer with the account's assistants: messages,
    variables, events, what channels kept. Ledger entries keep their amounts and no longer
    name the conversations. Asks first, unless --yes; this cannot be undone."""

    async def found(services: Services) -> list[ConversationListing]:
        await services.accounts.get(account_id)  # an account that is not there says so
        where = ConversationFilter(customer_identifier=customer_identifier)
        return await services.conversations.list(account_id, where, SHOWN_BEFORE_ASKING)

    if not yes:
        listed = with_services(load_settings(), found)
        _show(account_id, customer_identifier, listed)
        typer.confirm("Erase all of it, for good?", abort=True, err=True)

    async def work(services: Services) -> Erasure:
        await services.accounts.get(account_id)
        return await services.conversations.erase_customer(account_id, customer_identifier)

    erased = with_services(load_settings(), work)
    emit(
        as_json,
        {
            "account_id": account_id,
            "customer_identifier": customer_identifier,
            "conversation_ids": list(erased.conversation_ids),
            "messages": erased.messages,
            "ledger_entries_anonymised": erased.ledger_entries_anonymised,
        },
        f"Erased {_conversations(len(erased.conversation_ids))} of {escape(customer_identifier)} in account "
        f"{account_id} ({erased.messages} messages); {erased.ledger_entries_anonymised} ledger entries "
        "no longer name them.",
    )


def _show(account_id: int, customer_identifier: str, listed: list[ConversationListing]) -> None:
    """What the erasure will take, on stderr (stdout stays the answer's, for --json)."""
    if not listed:
        typer.echo(f"Account {account_id} has no conversation with {customer_identifier}.", err=True)
        return
    typer.echo(f"Account {account_id} has {_conversations(len(listed))} with {customer_identifier}:", err=True)
    for row in listed:
        conversation = row.conversation
        typer.echo(
            f"  {conversation.id}  with {row.assistant_name} (assistant {conversation.assistant_id}), "
            f"{conversation.message_count} messages, last {conversation.updated_at:%Y-%m-%d %H:%M} UTC",
            err=True,
        )


def _conversations(count: int) -> str:
    return f"{count} conversation{'' if count == 1 else 's'}"
