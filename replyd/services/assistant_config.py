"""The one schema of an assistant's settings: the API's body, the console's form and the CLI's
``--config`` file are all checked by it, through ``AssistantConfig.parse``."""

from decimal import Decimal
from typing import Annotated, Any

from pydantic import Field, ValidationError, field_validator

from replyd.engine.handoff_triggers import MAX_TRIGGERS, trigger_problem
from replyd.functions.handoff import DEFAULT_HANDOFF_MESSAGE
from replyd.functions.spec import FunctionSpec, as_saved, check_unique_names
from replyd.money import LARGEST_AMOUNT, format_micros, parse_amount
from replyd.providers.registry import DEFAULT_MODEL, parse_model
from replyd.services.settings_schema import SettingsSchema
from replyd.store.tables import Assistant

DEFAULT_PROMPT = (
    "You are a friendly customer service assistant. Answer briefly and helpfully. "
    "The customer's identifier is {{customer_identifier}}."
)

Amount = Annotated[Decimal, Field(ge=0, le=LARGEST_AMOUNT, decimal_places=6)]


class AssistantConfig(SettingsSchema):
    name: str = Field(min_length=1, max_length=200)
    system_prompt: str = Field(default=DEFAULT_PROMPT, max_length=100_000)
    """May hold ``{{variable}}`` placeholders."""
    model: str = DEFAULT_MODEL
    temperature: float = Field(default=0.7, ge=0, le=2)
    max_reply_tokens: int = Field(default=256, ge=1, le=32_768)
    context_budget_tokens: int = Field(default=2048, ge=256, le=2_000_000)
    """Most tokens of system prompt, history and new message sent to the model per reply."""
    first_message: str | None = Field(default=None, max_length=10_000)
    reply_fee: Amount = Decimal("0.01")
    input_price_per_million_tokens: Amount = Decimal(0)
    output_price_per_million_tokens: Amount = Decimal(0)
    functions: list[FunctionSpec] = Field(default_factory=list, max_length=64)
    """Webhooks the model may call while it answers."""
    handoff_enabled: bool = False
    """Offer the built-in handoff_to_human, which disables the AI on the conversation."""
    handoff_message: str = Field(default=DEFAULT_HANDOFF_MESSAGE, min_length=1, max_length=2000)
    """The reply the customer gets when the model hands the conversation over."""
    handoff_triggers: list[str] = Field(default_factory=list, max_length=MAX_TRIGGERS)
    """Regular expressions, case-insensitive: a customer's message matching one is handed to a
    human (with ``handoff_message`` as the reply) before the model is called."""
    resume_ai_after_s: int | None = Field(default=None, ge=1, le=30 * 24 * 3600)
    """The AI comes back by itself after this many seconds with no human message while it is
    off (a handoff or a takeover); None: it stays off until an operator turns it on."""
    max_function_rounds: int = Field(default=5, ge=1, le=20)
    summary_model: str | None = None
    """A cheaper ``provider:name`` that writes rolling summaries of long conversations; else the assistant's."""

    @field_validator("functions")
    @classmethod
    def _unique_function_names(cls, functions: list[FunctionSpec]) -> list[FunctionSpec]:
        return check_unique_names(functions)

    @field_validator("handoff_triggers")
    @classmethod
    def _triggers_compile(cls, triggers: list[str]) -> list[str]:
        for pattern in triggers:
            problem = trigger_problem(pattern)
            if problem:
                raise ValueError(problem)
        return triggers

    @field_validator("model", "summary_model")
    @classmethod
    def _model_is_known(cls, model: str | None) -> str | None:
        if model is not None:
            parse_model(model)
        return model

    @classmethod
    def of_row(cls, assistant: Assistant) -> "AssistantConfig":
        """The stored assistant as this schema sees it (money back in currency units). Functions
        saved under older, looser rules are shown as saved, so that the assistant can still be
        listed and fixed; a reply refuses them (``functions.spec.stored_functions``)."""
        columns = cls._columns_of(assistant)
        try:
            return cls.model_validate(columns)
        except ValidationError:
            config = cls.model_validate(columns | {"functions": []})
            return config.model_copy(update={"functions": [as_saved(f) for f in assistant.functions]})

    @staticmethod
    def _columns_of(assistant: Assistant) -> dict[str, Any]:
        return {
            "name": assistant.name,
            "system_prompt": assistant.system_prompt,
            "model": assistant.model,
            "temperature": assistant.temperature,
            "max_reply_tokens": assistant.max_reply_tokens,
            "context_budget_tokens": assistant.context_budget_tokens,
            "first_message": assistant.first_message,
            "reply_fee": format_micros(assistant.reply_fee_micros),
            "input_price_per_million_tokens": format_micros(assistant.input_price_micros),
            "output_price_per_million_tokens": format_micros(assistant.output_price_micros),
            "functions": assistant.functions,
            "handoff_enabled": assistant.handoff_enabled,
            "handoff_message": assistant.handoff_message,
            "handoff_triggers": assistant.handoff_triggers,
            "resume_ai_after_s": assistant.resume_ai_after_s,
            "max_function_rounds": assistant.max_function_rounds,
            "summary_model": assistant.summary_model,
        }

    def to_columns(self) -> dict[str, Any]:
        """The assistant's table columns, with money in micro-units."""
        return {
            "name": self.name,
            "system_prompt": self.system_prompt,
            "model": self.model,
            "temperature": self.temperature,
            "max_reply_tokens": self.max_reply_tokens,
            "context_budget_tokens": self.context_budget_tokens,
            "first_message": self.first_message,
            "reply_fee_micros": parse_amount(self.reply_fee),
            "input_price_micros": parse_amount(self.input_price_per_million_tokens),
            "output_price_micros": parse_amount(self.output_price_per_million_tokens),
            "functions": [f.model_dump(mode="json") for f in self.functions],
            "handoff_enabled": self.handoff_enabled,
            "handoff_message": self.handoff_message,
            "handoff_triggers": self.handoff_triggers,
            "resume_ai_after_s": self.resume_ai_after_s,
            "max_function_rounds": self.max_function_rounds,
            "summary_model": self.summary_model,
        }
