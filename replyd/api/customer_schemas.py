"""The answer of a customer's erasure."""

from pydantic import BaseModel, Field

from replyd.api.openapi import example


class ErasedCustomerOut(BaseModel):
    model_config = example(
        success=True,
        customer_identifier="+49155551234",
        conversation_ids=["5b0f6c1e-3f7a-4e0b-9a43-2d7f4c1f9e21"],
        messages=14,
        ledger_entries_anonymised=7,
    )

    success: bool = True
    customer_identifier: str
    conversation_ids: list[str] = Field(description="The conversations erased, one per assistant at most.")
    messages: int = Field(description="The messages erased with them.")
    ledger_entries_anonymised: int = Field(
        description="Charges kept, with their amounts, that no longer name the conversation or message."
    )
