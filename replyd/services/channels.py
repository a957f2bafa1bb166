"""Each account's channels: an assistant connected to WhatsApp, Twilio SMS or Telegram, with
the platform's credentials (sealed before they are stored, never shown again) and the secret
replyd makes for the platform's calls (shown once). The API and the command line manage them
through here, and the platforms' calls to a channel's inbound URL come in through here.

A channel sends through an event endpoint of its own, made with it: the AI's and agents'
messages in its conversations reach it as ``channel.outgoing`` events (see
``events/outbox.py``), delivered with the outbox's retries and order."""

import asyncio
import hmac
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from replyd import json_rules
from replyd.background import repeat
from replyd.channels import telegram, twilio, whatsapp
from replyd.channels.inbound import Incoming
from replyd.channels.kinds import checked_credentials, kind_named, new_inbound_secret
from replyd.channels.outgoing import PlatformStatus
from replyd.channels.sealing import Sealer
from replyd.clock import utcnow
from replyd.engine.receive import ReplyRequest
from replyd.engine.reply import ReplyEngine
from replyd.engine.settings_cache import Caller
from replyd.errors import (
    AssistantNotFound,
    FieldProblem,
    Forbidden,
    NotFound,
    ReplydError,
    RequestInProgress,
    Unauthenticated,
    ValidationFailed,
)
from replyd.events.types import CHANNEL_OUTGOING
from replyd.services.views import RowView
from replyd.store import assistants, channels, events
from replyd.store.channels import Channel

log = logging.getLogger(__name__)

MAX_CHANNELS = 50
"""Per account."""
SWEEP_EVERY_S = 5.0
"""How often a serving process looks for channel messages a dead process left unanswered."""
SWEEP_BATCH = 50


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


@dataclass(frozen=True)
class Inbound:
    """A customer's message kept from a channel, to be answered."""

    id: int
    channel_id: int
    account_id: int
    assistant_id: int
    platform_message_id: str
    customer_identifier: str
    text: str

    @classmethod
    def of(cls, inbound: channels.ChannelInbound, channel: channels.Channel) -> "Inbound":
        return cls(
            inbound.id,
            channel.id,
            channel.account_id,
            channel.assistant_id,
            inbound.platform_message_id,
            inbound.customer_identifier,
            inbound.text,
        )


class ChannelService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        sealer: Sealer,
        replies: ReplyEngine,
        max_message_chars: int,
        answer_after_s: float,
    ) -> None:
        self._sessions = sessions
        self._sealer = sealer
        self._replies = replies
        self._max_chars = max_message_chars
        self._answer_after = timedelta(seconds=answer_after_s)
        self._answering: set[asyncio.Task[None]] = set()
        """Answers on their way, kept so that none is collected before it ends."""

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
            owner = assistant.account_id
            if len(await channels.list_channels(session, owner)) >= MAX_CHANNELS:
                raise ValidationFailed([FieldProblem("kind", f"an account has at most {MAX_CHANNELS} channels")])
            row = await channels.create_channel(session, owner, assistant_id, kind.name, sealed, secret)
            await events.create_endpoint(session, owner, f"channel:{row.id}", [CHANNEL_OUTGOING], "", row.id)
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

    async def receive_telegram(self, channel_id: int, secret: str | None, update: dict[str, Any]) -> Inbound | None:
        """Check Telegram's secret token and keep the update's message; the message to answer,
        or None (an update without one, or one kept already: Telegram retried)."""
        async with self._sessions() as session, session.begin():
            channel = await _channel(session, channel_id, "telegram")
            if not _same(secret, channel.inbound_secret):
                raise Unauthenticated(f"The {telegram.SECRET_HEADER} header is missing or wrong.")
            incoming = telegram.incoming(update)
            return None if incoming is None else await self._keep(session, channel, incoming)

    async def verify_whatsapp(self, channel_id: int, mode: str | None, token: str | None, challenge: str | None) -> str:
        """Meta's check of the webhook URL: the challenge to answer, if the verify token is the channel's."""
        async with self._sessions() as session:
            channel = await _channel(session, channel_id, "whatsapp")
        if mode != "subscribe" or challenge is None or not _same(token, channel.inbound_secret):
            raise Forbidden("hub.mode must be subscribe and hub.verify_token the channel's verify token.")
        return challenge

    async def receive_whatsapp(self, channel_id: int, signature: str | None, body: bytes) -> list[Inbound]:
        """Check the notification's signature over its raw body, record the statuses of sent
        messages and keep the customers' messages; those to answer (not those kept already)."""
        async with self._sessions() as session, session.begin():
            channel = await _channel(session, channel_id, "whatsapp")
            if not whatsapp.is_signed(self._sealer.open(channel.credentials)["app_secret"], body, signature):
                raise Unauthenticated(f"The {whatsapp.SIGNATURE_HEADER} header is missing or wrong.")
            notification = json_rules.loads_object(body)
            for status in whatsapp.statuses(notification):
                await _record(session, channel_id, status)
            kept = [await self._keep(session, channel, incoming) for incoming in whatsapp.incoming(notification)]
            return [inbound for inbound in kept if inbound is not None]

    async def receive_twilio(
        self, channel_id: int, url: str, form: Mapping[str, str], signature: str | None
    ) -> Inbound | None:
        """Check Twilio's signature of the URL it called and the form, and keep the SMS; the
        message to answer, or None (a post without one, or one kept already)."""
        async with self._sessions() as session, session.begin():
            channel = await self._signed_by_twilio(session, channel_id, url, form, signature)
            incoming = twilio.incoming(form)
            return None if incoming is None else await self._keep(session, channel, incoming)

    async def receive_twilio_status(
        self, channel_id: int, url: str, form: Mapping[str, str], signature: str | None
    ) -> None:
        """Check the status callback's signature as an SMS's, and record the status."""
        async with self._sessions() as session, session.begin():
            await self._signed_by_twilio(session, channel_id, url, form, signature)
            status = twilio.status(form)
            if status is not None:
                await _record(session, channel_id, status)

    async def _signed_by_twilio(
        self, session: AsyncSession, channel_id: int, url: str, form: Mapping[str, str], signature: str | None
    ) -> Channel:
        channel = await _channel(session, channel_id, "twilio")
        if not twilio.is_signed(self._sealer.open(channel.credentials)["auth_token"], url, form, signature):
            raise Unauthenticated(
                f"The {twilio.SIGNATURE_HEADER} header is missing or wrong. Behind a proxy, set REPLYD_PUBLIC_URL "
                "to the URL Twilio calls: Twilio signs the whole URL."
            )
        return channel

    async def _keep(self, session: AsyncSession, channel: Channel, incoming: Incoming) -> Inbound | None:
        """The message kept, to answer; None if the platform delivered it before."""
        text = incoming.text[: self._max_chars]
        kept = await channels.keep_inbound(
            session, channel.id, incoming.platform_message_id, incoming.customer_identifier, text
        )
        if kept is None:
            return None
        return Inbound(
            kept,
            channel.id,
            channel.account_id,
            channel.assistant_id,
            incoming.platform_message_id,
            incoming.customer_identifier,
            text,
        )

    def answer_soon(self, inbound: Inbound) -> None:
        """Answer in a task of its own: the platform's connection is free for its next update at
        once (a process stopped meanwhile leaves the message to the sweep)."""
        task = asyncio.create_task(self.answer(inbound), name=f"replyd-channel-answer-{inbound.id}")
        self._answering.add(task)
        task.add_done_callback(self._answering.discard)

    async def answer(self, inbound: Inbound) -> None:
        """Ask the assistant, as generate-reply would, under an Idempotency-Key of the platform's
        message id: asked again, it answers once and charges once. The answer goes out as the
        conversation's ``channel.outgoing``."""
        request = ReplyRequest(inbound.assistant_id, inbound.customer_identifier, inbound.text)
        key = f"channel:{inbound.channel_id}:{inbound.platform_message_id}"
        error = None
        try:
            await self._replies.reply(Caller(inbound.account_id), request, key, inbound.channel_id)
        except RequestInProgress:
            return  # another process answers it now (the sweep found it slow, not dead)
        except ReplydError as exc:
            log.warning("channel %s: no answer to message %s: %s", inbound.channel_id, inbound.id, exc.message)
            error = exc.message
        async with self._sessions() as session, session.begin():
            await channels.mark_answered(session, inbound.id, error)

    async def answer_forgotten(self) -> int:
        """Answer the messages kept by a process that died before answering them; how many.
        Their Idempotency-Key makes this safe even for one that is only slow."""
        async with self._sessions() as session:
            forgotten = await channels.unanswered(session, utcnow() - self._answer_after, SWEEP_BATCH)
        for inbound, channel in forgotten:
            await self.answer(Inbound.of(inbound, channel))
        if forgotten:
            log.info("answered %d channel messages that a stopped process had left", len(forgotten))
        return len(forgotten)

    async def answer_forgotten_forever(self) -> None:
        await repeat(SWEEP_EVERY_S, self.answer_forgotten, "answering channel messages left unanswered")


async def _channel(session: AsyncSession, channel_id: int, kind: str) -> Channel:
    channel = await channels.get_channel(session, None, channel_id)
    if channel is None or channel.kind != kind:
        raise NotFound(f"There is no {kind} channel {channel_id}.")
    return channel


async def _record(session: AsyncSession, channel_id: int, status: PlatformStatus) -> None:
    await channels.record_status(session, channel_id, status.platform_message_id, status.status, status.error)


def _same(given: str | None, secret: str | None) -> bool:
    """In constant time: a secret is not guessed a character at a time."""
    return bool(given) and hmac.compare_digest((given or "").encode(), (secret or "").encode())
