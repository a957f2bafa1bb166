"""Sending a channel's outgoing message to its platform: the delivery loop hands over each
``channel.outgoing`` delivery of a channel's endpoint here instead of posting it to a URL. The
platform's base URL is a setting (not a user's address: no address guard)."""

import asyncio
import json
from typing import Any

import aiohttp
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from replyd.channels import telegram
from replyd.channels.sealing import Sealer
from replyd.outbound import SendFailed
from replyd.store import channels
from replyd.store.events import Due

EXCERPT_BYTES = 500


class ChannelSender:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], sealer: Sealer, telegram_api_url: str) -> None:
        self._sessions = sessions
        self._sealer = sealer
        self._telegram_api_url = telegram_api_url
        self._client: aiohttp.ClientSession | None = None
        """Made on first use, in the event loop that serves."""

    async def send(self, due: Due, timeout_s: float) -> tuple[int | None, str | None, str | None]:
        """The platform's status, an excerpt of its answer, and what went wrong in plain words
        (None: sent). Raises ``TimeoutError`` and ``SendFailed`` as a webhook's send does."""
        assert due.channel_id is not None
        async with self._sessions() as session:
            channel = await channels.get_channel(session, None, due.channel_id)
        if channel is None:
            return None, None, "the channel was removed"
        credentials = self._sealer.open(channel.credentials)
        url, body = telegram.send_message_request(
            self._telegram_api_url, credentials["bot_token"], due.data["to"], due.data["message"]["content"]
        )
        async with asyncio.timeout(timeout_s):
            try:
                async with self._session().post(url, json=body) as response:
                    raw = await response.read()
                    status = response.status
            except aiohttp.ClientError as exc:
                raise SendFailed(type(exc).__name__) from exc
        excerpt = raw[:EXCERPT_BYTES].decode(errors="replace").replace("\x00", "")
        return status, excerpt, None if 200 <= status < 300 else telegram.refusal(status, _json(raw))

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
