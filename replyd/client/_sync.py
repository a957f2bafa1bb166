"""``ReplydClient``: the API, blocking. Requests and answers are built in ``_endpoints`` and
``_calls``, retries decided in ``_retry``; this module only sends and sleeps."""

import time
from collections.abc import Callable, Iterator, Mapping
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


class ReplydClient:
    """The replyd API, blocking. Close it, or use it as a context manager::

    with ReplydClient("http://127.0.0.1:8000", "rpd_...") as replyd:
        print(replyd.generate_reply(1, "+49155551234", "Hi!").reply)
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout_s: float = 60.0,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], object] = time.sleep,
        headers: Mapping[str, str] | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        """``timeout_s`` bounds each attempt, ``retry`` the whole call; ``sleep`` waits between attempts."""
        self._http = httpx.Client(base_url=base_url, headers=default_headers(token, headers), transport=transport)
        self._timeout_s = timeout_s
        self._retry = retry or RetryPolicy()
        self._sleep = sleep

    def __enter__(self) -> "ReplydClient":
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, traceback: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _send(self, call: Call[T]) -> T:
        attempts = self._retry.begin(call.is_repeatable, self._timeout_s)
        while True:
            try:
                return read_response(call, self._http.send(build_request(self._http, call, attempts.timeout_s())))
            except RETRYABLE as error:
                self._sleep(attempts.delay_s(error))

    def generate_reply(
        self,
        assistant_id: int,
        customer_identifier: str,
        message: str,
        variables: Variables | None = None,
        idempotency_key: str | None = None,
    ) -> Reply:
        """The assistant's reply to a customer's message; the key (a new UUID if not given) makes retries safe."""
        return self._send(api.generate_reply(assistant_id, customer_identifier, message, variables, idempotency_key))

    def get_conversation(self, conversation_id: str) -> Conversation:
        """A conversation with its whole history."""
        return self._send(api.get_conversation(conversation_id))

    def list_conversations(
        self,
        *,
        assistant_id: int | None = None,
        type: ConversationType | None = None,
        external_identifier: str | None = None,
        per_page: int | None = None,
        cursor: str | None = None,
    ) -> ConversationPage:
        """One page of conversations, newest activity first."""
        return self._send(api.list_conversations(assistant_id, type, external_identifier, per_page, cursor))

    def iter_conversations(
        self,
        *,
        assistant_id: int | None = None,
        type: ConversationType | None = None,
        external_identifier: str | None = None,
        per_page: int | None = None,
    ) -> Iterator[ConversationSummary]:
        """Every matching conversation, fetching pages as it goes."""
        cursor: str | None = None
        while True:
            page = self.list_conversations(
                assistant_id=assistant_id,
                type=type,
                external_identifier=external_identifier,
                per_page=per_page,
                cursor=cursor,
            )
            yield from page.data
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def disable_ai(self, conversation_id: str) -> ConversationState:
        """Take the conversation over: the AI stops answering until ``enable_ai``."""
        return self._send(api.set_ai(conversation_id, False))

    def enable_ai(self, conversation_id: str) -> ConversationState:
        """Hand the conversation back to the AI."""
        return self._send(api.set_ai(conversation_id, True))

    def start_conversation(
        self, assistant_id: int, type: Literal["widget", "test"] = "widget", variables: Variables | None = None
    ) -> StartedConversation:
        """A new widget or test chat."""
        return self._send(api.start_conversation(assistant_id, type, variables))

    def send_message(self, conversation_id: str, message: str, idempotency_key: str | None = None) -> ConversationReply:
        """A customer's message to a started conversation, and the reply; retried like ``generate_reply``."""
        return self._send(api.send_message(conversation_id, message, idempotency_key))

    def add_agent_message(self, conversation_id: str, message: str) -> AgentMessage:
        """A human operator's message, stored in the history so the AI sees it later."""
        return self._send(api.add_agent_message(conversation_id, message))

    def delete_conversation(self, conversation_id: str) -> None:
        """Erase the conversation and its messages."""
        self._send(api.delete_conversation(conversation_id))

    def erase_customer(self, customer_identifier: str) -> ErasedCustomer:
        """Erase every conversation of the customer with the account's assistants."""
        return self._send(api.erase_customer(customer_identifier))

    def create_assistant(self, name: str, **fields: Any) -> Assistant:
        """A new assistant; ``fields`` are its settings (see the README), the rest default."""
        return self._send(api.create_assistant({"name": name, **fields}))

    def list_assistants(self) -> list[Assistant]:
        return self._send(api.list_assistants())

    def get_assistant(self, assistant_id: int) -> Assistant:
        return self._send(api.get_assistant(assistant_id))

    def update_assistant(self, assistant_id: int, **changes: Any) -> Assistant:
        """Change only the settings given."""
        return self._send(api.update_assistant(assistant_id, changes))

    def delete_assistant(self, assistant_id: int, *, force: bool = False) -> None:
        """Delete the assistant; with ``force`` also its conversations (else AssistantInUseError)."""
        self._send(api.delete_assistant(assistant_id, force))

    def get_account(self) -> Account:
        """The account's balance and currency, and this token's scope and rate limit."""
        return self._send(api.get_account())

    def get_usage(
        self,
        *,
        per_page: int | None = None,
        cursor: str | None = None,
        since: date | None = None,
        until: date | None = None,
    ) -> Usage:
        """One page of the ledger, newest first, with totals per day and per assistant over
        the UTC days ``since`` to ``until`` (the last 30 days by default)."""
        return self._send(api.get_usage(per_page, cursor, since, until))
