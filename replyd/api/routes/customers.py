"""A customer's right to erasure: everything the account keeps of one customer, erased at once."""

from typing import Annotated

from fastapi import APIRouter, Path
from starlette.convertors import Convertor, register_url_convertor

from replyd import errors
from replyd.api.customer_schemas import ErasedCustomerOut
from replyd.api.deps import AdminToken
from replyd.api.openapi import error_responses
from replyd.app_state import State

router = APIRouter(tags=["customers"])


class AnyText(Convertor[str]):
    """Any text in a path, slashes and line breaks included (Starlette's ``path`` stops at a line
    break): a customer identifier is whatever generate-reply was sent."""

    regex = r"[\s\S]+"

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("text", AnyText())


@router.delete(
    "/api/customers/{customer_identifier:text}",
    summary="Erase everything of one customer (the right to erasure)",
    description="Every conversation of the customer with any of your assistants, with its messages, variables, "
    "events and what channels kept; charges stay in the ledger without naming it. Idempotent: a customer "
    "erased already (or never known) answers with nothing erased.",
    responses=error_responses(errors.Unauthenticated, errors.Forbidden, errors.ValidationFailed),
)
async def erase_customer(
    customer_identifier: Annotated[str, Path(min_length=1, max_length=255)], token: AdminToken, state: State
) -> ErasedCustomerOut:
    erased = await state.conversations.erase_customer(token.account_id, customer_identifier)
    return ErasedCustomerOut(
        customer_identifier=customer_identifier,
        conversation_ids=list(erased.conversation_ids),
        messages=erased.messages,
        ledger_entries_anonymised=erased.ledger_entries_anonymised,
    )
