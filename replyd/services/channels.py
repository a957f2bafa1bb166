"""Each account's channels: an assistant connected to WhatsApp, Twilio SMS or Telegram, with
the platform's credentials (sealed before they are stored, never shown again) and the secret
replyd makes for the platform's calls (shown once). The API and the command line manage them
through here."""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from replyd.channels.kinds import checked_credentials, kind_named, new_inbound_secret
from replyd.channels.sealing import Sealer
from replyd.errors import AssistantNotFound, FieldProblem, ValidationFailed
from replyd.services.views import RowView
from replyd.store import assistants, channels

MAX_CHANNELS = 50
"""Per account."""


@dataclass(frozen=True)
class ChannelView(RowView):
    id: int
    account_id: int
    assistant_id: int
    kind: str
    created_at: datetime

    @property
    def inbound_path(self) -> str:
        """Where the platform sends the channel's messages, under the server's public base URL."""
        return f"/channels/{self.id}/{self.kind}"


@dataclass(frozen=True)
class NewChannel:
    channel: ChannelView
    inbound_secret: str | None
    """For the platform's side (WhatsApp's verify token, Telegram's secret token): shown once."""


class ChannelService:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], sealer: Sealer) -> None:
        self._sessions = sessions
        self._sealer = sealer

    async def add(
        self, account_id: int | None, assistant_id: int, kind_name: str, credentials: Mapping[str, object]
    ) -> NewChannel:
        """``account_id`` None: the assistant's own account (the operator's command line)."""
        kind = kind_named(kind_name)
        sealed = self._sealer.seal(checked_credentials(kind, credentials))
        secret = new_inbound_secret() if kind.inbound_secret else None
        async with self._sessions() as session, session.begin():
            assistant = await assistants.get_assistant(session, account_id, assistant_id)
            if assistant is None:
                raise AssistantNotFound(f"There is no assistant {assistant_id}.")
            if len(await channels.list_channels(session, assistant.account_id)) >= MAX_CHANNELS:
                raise ValidationFailed([FieldProblem("kind", f"an account has at most {MAX_CHANNELS} channels")])
            row = await channels.create_channel(session, assistant.account_id, assistant_id, kind.name, sealed, secret)
            return NewChannel(ChannelView.of(row), secret)

    async def channels(self, account_id: int | None) -> list[ChannelView]:
        """``account_id`` None: every account's."""
        async with self._sessions() as session:
            return [ChannelView.of(row) for row in await channels.list_channels(session, account_id)]

    async def remove(self, account_id: int | None, channel_id: int) -> bool:
        """Whether it was there. ``account_id`` None: any account's."""
        async with self._sessions() as session, session.begin():
            if await channels.get_channel(session, account_id, channel_id) is None:
                return False
            await channels.delete_channel(session, channel_id)
            return True
