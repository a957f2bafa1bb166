"""Sending a channel's outgoing message to its platform: the delivery loop hands over each
``channel.outgoing`` delivery of a channel's endpoint here instead of posting it to a URL. The
platforms' base URLs are settings (not a user's address: no address guard). The platform's
acceptance is recorded on the message's status at once, under the platform's id of the message
(its status reports may follow within a second); refusals are recorded when the delivery loop
settles the attempt."""

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

import aiohttp
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from replyd.channels import telegram, twilio, whatsapp
from replyd.channels.outgoing import Call, Outgoing, Refusal
from replyd.channels.sealing import Sealer
from replyd.outbound import SendFailed, retry_after_s
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
    retry_after_s: float | None = None
    """How long the platform asked to wait before the next attempt (``Retry-After``, or its body)."""


@dataclass(frozen=True)
class Platform:
    call: Callable[[Outgoing], Call]
    refusal: Callable[[int, Any], Refusal]
    sent_id: Callable[[Any], str | None] | None = None
    """The platform's id of the sent message, for a platform that reports its statuses."""

    @property
    def accepted(self) -> str:
        """The status of a message the platform took: one that reports more says when it is sent."""
        return "accepted" if self.sent_id else "sent"


@dataclass(frozen=True)
class PlatformUrls:
    """Where each platform's API is (settings), and replyd's own public URL, if known."""

    telegram: str
    whatsapp: str
    twilio: str
    public: str | None


class ChannelSender:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], sealer: Sealer, urls: PlatformUrls) -> None:
        self._sessions = sessions
        self._sealer = sealer
        self._public_url = urls.public
        self._platforms = {
            "telegram": Platform(partial(telegram.send_message, urls.telegram), telegram.refusal),
            "whatsapp": Platform(
                partial(whatsapp.send_message, urls.whatsapp), whatsapp.refusal, whatsapp.sent_message_id
            ),
            "twilio": Platform(partial(twilio.send_message, urls.twilio), twilio.refusal, twilio.sent_message_id),
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
        status_url = f"{self._public_url}/channels/{channel.id}/{channel.kind}/status" if self._public_url else None
        outgoing = Outgoing(
            self._sealer.open(channel.credentials), due.data["to"], due.data["message"]["content"], status_url
        )
        call = platform.call(outgoing)
        async with asyncio.timeout(timeout_s):
            try:
                form, json_body = (call.body, None) if call.form else (None, call.body)
                async with self._session().post(call.url, headers=call.headers, data=form, json=json_body) as response:
                    raw = await response.read()
                    status, asked_wait = response.status, retry_after_s(response.headers.get("Retry-After"))
            except aiohttp.ClientError as exc:
                raise SendFailed(type(exc).__name__) from exc
        excerpt = raw[:EXCERPT_BYTES].decode(errors="replace").replace("\x00", "")
        if not 200 <= status < 300:
            refused = platform.refusal(status, _json(raw))
            return Sent(status, excerpt, refused.reason, refused.is_final, refused.retry_after_s or asked_wait)
        sent_id = platform.sent_id(_json(raw)) if platform.sent_id else None
        async with self._sessions() as session, session.begin():
            await channels.record_sent(session, due.data["message"]["id"], sent_id, platform.accepted)
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
