"""Managing an account's assistants, for the API, the console and the CLI alike: every write is
checked by ``AssistantConfig.parse`` and moves the account's settings version on."""

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from replyd.errors import AssistantInUse, AssistantNotFound, NotFound
from replyd.services.assistant_config import AssistantConfig
from replyd.services.views import AssistantView
from replyd.store import accounts, assistants, conversations
from replyd.store.tables import Assistant


class AssistantService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions

    async def create(self, account_id: int, fields: dict[str, Any]) -> AssistantView:
        config = AssistantConfig.parse(fields)
        async with self._sessions() as session, session.begin():
            if await accounts.get_account(session, account_id) is None:
                raise NotFound(f"There is no account {account_id}.")
            return AssistantView.of(await assistants.create_assistant(session, account_id, config.to_columns()))

    async def list(self, account_id: int) -> list[AssistantView]:
        async with self._sessions() as session:
            return [AssistantView.of(row) for row in await assistants.list_assistants(session, account_id)]

    async def get(self, account_id: int | None, assistant_id: int) -> AssistantView:
        """``account_id`` None: the operator's command line, which sees every account."""
        async with self._sessions() as session:
            return AssistantView.of(await _find(session, account_id, assistant_id))

    async def update(self, account_id: int, assistant_id: int, changes: dict[str, Any]) -> AssistantView:
        """Partial: fields not sent keep their values; the result is validated as a whole."""
        async with self._sessions() as session, session.begin():
            assistant = await _find(session, account_id, assistant_id)
            current = AssistantConfig.of_row(assistant).model_dump(mode="json")
            config = AssistantConfig.parse(current | changes)
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


async def _find(session: AsyncSession, account_id: int | None, assistant_id: int) -> Assistant:
    assistant = await assistants.get_assistant(session, account_id, assistant_id)
    if assistant is None:
        where = "in your account" if account_id is not None else "in any account"
        raise AssistantNotFound(f"Assistant {assistant_id} was not found {where}.")
    return assistant
