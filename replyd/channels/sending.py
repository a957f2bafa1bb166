"""Sending a channel's outgoing message to its platform: the delivery loop hands over each
``channel.outgoing`` delivery of a channel's endpoint here instead of posting it to a URL. The
platforms' base URLs are settings (not a user's address: no address guard)."""

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import aiohttp
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from replyd.channels import telegram, whatsapp
from replyd.channels.outgoing import Call, Refusal
from replyd.channels.sealing import Sealer
from replyd.outbound import SendFailed
from replyd.store import channels
from replyd.store.events import Due

EXCERPT_BYTES = 500


@dataclass(frozen=True)
class Sent:
    """What one attempt came to: the platform's status (None: no answer), an excerpt of its
    answer, and what went wrong in plain words (None: sent)."""

    status: int | None
    excerpt: str | None
    error: str | None
    is_final: bool = False
    """The platform refused for good: retrying cannot help."""


@dataclass(frozen=True)
class Platform:
    call: Callable[[dict[str, str], str, str], Call]
    """From the credentials, the customer identifier and the text."""
    refusal: Callable[[int, Any], Refusal]
    sent_id: Callable[[Any], str | None] | None = None
    """The platform's id of the sent message, for a platform that reports its statuses."""


class ChannelSender:
    def __init__(
        self, sessions: async_sessionmaker[AsyncSession], sealer: Sealer, telegram_api_url: str, whatsapp_api_url: str
    ) -> None:
        self._sessions = sessions
        self._sealer = sealer
        self._platforms = {
            "telegram": Platform(partial(telegram.send_message, telegram_api_url), telegram.refusal),
            "whatsapp": Platform(
                partial(whatsapp.send_message, whatsapp_api_url), whatsapp.refusal, whatsapp.sent_message_id
            ),
        }
        self._client: aiohttp.ClientSession | None = None
        """Made on first use, in the event loop that serves."""

    async def send(self, due: Due, timeout_s: float) -> Sent:
        """Raises ``TimeoutError`` and ``SendFailed`` as a webhook's send does."""
        assert due.channel_id is not None
        async with self._sessions() as session:
            channel = await channels.get_channel(session, None, due.channel_id)
        if channel is None:
            return Sent(None, None, "the channel was removed")
        platform = self._platforms[channel.kind]
        call = platform.call(self._sealer.open(channel.credentials), due.data["to"], due.data["message"]["content"])
        async with asyncio.timeout(timeout_s):
            try:
                async with self._session().post(call.url, json=call.body, headers=call.headers) as response:
                    raw = await response.read()
                    status = response.status
            except aiohttp.ClientError as exc:
                raise SendFailed(type(exc).__name__) from exc
        excerpt = raw[:EXCERPT_BYTES].decode(errors="replace").replace("\x00", "")
        if not 200 <= status < 300:
            refused = platform.refusal(status, _json(raw))
            return Sent(status, excerpt, refused.reason, refused.is_final)
        sent_id = platform.sent_id(_json(raw)) if platform.sent_id else None
        if sent_id is not None:
            async with self._sessions() as session, session.begin():
                await channels.record_sent(session, channel.id, sent_id, due.data["message"]["id"])
        return Sent(status, excerpt, None)

    def _session(self) -> aiohttp.ClientSession:
        if self._client is None:
            self._client = aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar())
        return self._client

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.close()


def _json(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None
