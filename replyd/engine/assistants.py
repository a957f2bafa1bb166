"""Managing an account's assistants: the same validation (``AssistantConfig``) as the CLI."""

from typing import Any

from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from replyd.engine.assistant_config import AssistantConfig
from replyd.errors import AssistantInUse, AssistantNotFound, FieldProblem, ValidationFailed
from replyd.money import format_micros
from replyd.store import assistants, conversations
from replyd.store.tables import Assistant


def config_of(assistant: Assistant) -> AssistantConfig:
    """The stored assistant as the settings schema sees it (money back in currency units)."""
    return AssistantConfig.model_validate(
        {
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
            "max_function_rounds": assistant.max_function_rounds,
            "summary_model": assistant.summary_model,
        }
    )


def validate_config(fields: dict[str, Any]) -> AssistantConfig:
    try:
        return AssistantConfig.model_validate(fields)
    except ValidationError as exc:
        problems = [
            FieldProblem(".".join(str(p) for p in e["loc"]) or "body", e["msg"].removeprefix("Value error, "))
            for e in exc.errors()
        ]
        raise ValidationFailed(problems) from None


class AssistantService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def create(self, account_id: int, fields: dict[str, Any]) -> Assistant:
        config = validate_config(fields)
        async with self._sessions() as session, session.begin():
            return await assistants.create_assistant(session, account_id, config.to_columns())

    async def list(self, account_id: int) -> list[Assistant]:
        async with self._sessions() as session:
            return await assistants.list_assistants(session, account_id)

    async def get(self, account_id: int, assistant_id: int) -> Assistant:
        async with self._sessions() as session:
            return await _find(session, account_id, assistant_id)

    async def update(self, account_id: int, assistant_id: int, changes: dict[str, Any]) -> Assistant:
        """Partial: fields not sent keep their values; the result is validated as a whole."""
        async with self._sessions() as session, session.begin():
            assistant = await _find(session, account_id, assistant_id)
            current = config_of(assistant).model_dump(mode="json")
            config = validate_config(current | changes)
            await assistants.update_assistant(session, assistant_id, config.to_columns())
        return await self.get(account_id, assistant_id)

    async def delete(self, account_id: int, assistant_id: int, force: bool) -> None:
        """Idempotent, like erasing a conversation: an assistant that is not there (deleted
        already, never there, another account's) is left alone alike, and that is success."""
        async with self._sessions() as session, session.begin():
            if await assistants.get_assistant(session, account_id, assistant_id) is None:
                return
            in_use = await conversations.count_for_assistant(session, assistant_id)
            if in_use and not force:
                raise AssistantInUse(
                    f"Assistant {assistant_id} has {in_use} conversations; delete with ?force=true to erase them too."
                )
            await assistants.delete_assistant(session, assistant_id)


async def _find(session: AsyncSession, account_id: int, assistant_id: int) -> Assistant:
    assistant = await assistants.get_assistant(session, account_id, assistant_id)
    if assistant is None:
        raise AssistantNotFound(f"Assistant {assistant_id} was not found in your account.")
    return assistant
