"""``AsyncReplydClient``: the API for asyncio, with the same methods as ``ReplydClient``.
Requests and answers are built in ``_endpoints`` and ``_calls``, retries decided in
``_retry``; this module only sends and sleeps."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from datetime import date
from types import TracebackType
from typing import Any, Literal, TypeVar

import httpx

from replyd.client import _endpoints as api
from replyd.client._calls import Call, build_request, default_headers, read_response
from replyd.client._endpoints import ConversationType, Variables
from replyd.client._models import (
    Account,
    AgentMessage,
    Assistant,
    Conversation,
    ConversationPage,
    ConversationReply,
    ConversationState,
    ConversationSummary,
    ErasedCustomer,
    Reply,
    StartedConversation,
    Usage,
)
from replyd.client._retry import RETRYABLE, RetryPolicy

T = TypeVar("T")


class AsyncReplydClient:
    """The replyd API for asyncio. Close it, or use it as a context manager::

        async with AsyncReplydClient("http://127.0.0.1:8000", "rpd_...") as replyd:
            print((await replyd.generate_reply(1, "+49155551234", "Hi!")).reply)

    Each method is documented on ``ReplydClient``; here it is awaited.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout_s: float = 60.0,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
        headers: Mapping[str, str] | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        """``timeout_s`` bounds each attempt, ``retry`` the whole call; ``sleep`` waits between attempts."""
        self._http = httpx.AsyncClient(base_url=base_url, headers=default_headers(token, headers), transport=transport)
        self._timeout_s = timeout_s
        self._retry = retry or RetryPolicy()
        self._sleep = sleep

    async def __aenter__(self) -> "AsyncReplydClient":
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _send(self, call: Call[T]) -> T:
        attempts = self._retry.begin(call.is_repeatable, self._timeout_s)
        while True:
            try:
                response = await self._http.send(build_request(self._http, call, attempts.timeout_s()))
                return read_response(call, response)
            except RETRYABLE as error:
                await self._sleep(attempts.delay_s(error))

    async def generate_reply(
        self,
        assistant_id: int,
        customer_identifier: str,
        message: str,
        variables: Variables | None = None,
        idempotency_key: str | None = None,
    ) -> Reply:
        return await self._send(
            api.generate_reply(assistant_id, customer_identifier, message, variables, idempotency_key)
        )

    async def get_conversation(self, conversation_id: str) -> Conversation:
        return await self._send(api.get_conversation(conversation_id))

    async def list_conversations(
        self,
        *,
        assistant_id: int | None = None,
        type: ConversationType | None = None,
        external_identifier: str | None = None,
        per_page: int | None = None,
        cursor: str | None = None,
    ) -> ConversationPage:
        return await self._send(api.list_conversations(assistant_id, type, external_identifier, per_page, cursor))

    async def iter_conversations(
        self,
        *,
        assistant_id: int | None = None,
        type: ConversationType | None = None,
        external_identifier: str | None = None,
        per_page: int | None = None,
    ) -> AsyncIterator[ConversationSummary]:
        cursor: str | None = None
        while True:
            page = await self.list_conversations(
                assistant_id=assistant_id,
                type=type,
                external_identifier=external_identifier,
                per_page=per_page,
                cursor=cursor,
            )
            for conversation in page.data:
                yield conversation
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    async def disable_ai(self, conversation_id: str) -> ConversationState:
        return await self._send(api.set_ai(conversation_id, False))

    async def enable_ai(self, conversation_id: str) -> ConversationState:
        return await self._send(api.set_ai(conversation_id, True))

    async def start_conversation(
        self, assistant_id: int, type: Literal["widget", "test"] = "widget", variables: Variables | None = None
    ) -> StartedConversation:
        return await self._send(api.start_conversation(assistant_id, type, variables))

    async def send_message(
        self, conversation_id: str, message: str, idempotency_key: str | None = None
    ) -> ConversationReply:
        return await self._send(api.send_message(conversation_id, message, idempotency_key))

    async def add_agent_message(self, conversation_id: str, message: str) -> AgentMessage:
        return await self._send(api.add_agent_message(conversation_id, message))

    async def delete_conversation(self, conversation_id: str) -> None:
        await self._send(api.delete_conversation(conversation_id))

    async def erase_customer(self, customer_identifier: str) -> ErasedCustomer:
        return await self._send(api.erase_customer(customer_identifier))

    async def create_assistant(self, name: str, **fields: Any) -> Assistant:
        return await self._send(api.create_assistant({"name": name, **fields}))

    async def list_assistants(self) -> list[Assistant]:
        return await self._send(api.list_assistants())

    async def get_assistant(self, assistant_id: int) -> Assistant:
        return await self._send(api.get_assistant(assistant_id))

    async def update_assistant(self, assistant_id: int, **changes: Any) -> Assistant:
        return await self._send(api.update_assistant(assistant_id, changes))

    async def delete_assistant(self, assistant_id: int, *, force: bool = False) -> None:
        await self._send(api.delete_assistant(assistant_id, force))

    async def get_account(self) -> Account:
        return await self._send(api.get_account())

    async def get_usage(
        self,
        *,
        per_page: int | None = None,
        cursor: str | None = None,
        since: date | None = None,
        until: date | None = None,
    ) -> Usage:
        return await self._send(api.get_usage(per_page, cursor, since, until))
