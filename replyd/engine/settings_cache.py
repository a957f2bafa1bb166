"""What every reply would otherwise read again: the API token that sends it, its assistant
(with its functions, validated once: checking a function's JSON Schema took longer than the
rest of a reply, and its handoff triggers, compiled once) and the event types its account's
endpoints take.

Each entry remembers the account's ``settings_version`` when it was read. Every change to the
account's tokens, assistants or endpoints moves that version on in the same transaction
(store/accounts.py),
and every reply reads the version with the balance, in its first transaction. An entry whose
version is behind is never used past that transaction: the token is checked again (a revoked
one is refused) and the assistant read again, in every process, however many there are."""

import re
from dataclasses import dataclass
from typing import Any

from replyd.engine.handoff_triggers import compile_triggers
from replyd.events.outbox import Subscriptions
from replyd.functions.spec import FunctionSpec, stored_functions
from replyd.store.tables import Assistant

MAX_ENTRIES = 10_000
"""Per kind; past it the cache starts afresh (entries are cheap to read again)."""


@dataclass(frozen=True)
class CachedToken:
    """An API token as last found active, and its account's settings version then."""

    id: int
    sha256: str
    rate_limit: str | None
    settings_version: int


@dataclass(frozen=True)
class CachedAssistant:
    """An assistant as last read, and its functions, validated then."""

    assistant: Assistant
    functions: tuple[FunctionSpec, ...]
    triggers: tuple[re.Pattern[str], ...]

    @classmethod
    def of(cls, assistant: Assistant) -> "CachedAssistant":
        functions = tuple(stored_functions(assistant.id, assistant.functions))
        return cls(assistant, functions, compile_triggers(assistant.handoff_triggers))

    def trigger_in(self, message: str) -> str | None:
        """The first handoff trigger the customer's message matches."""
        return next((t.pattern for t in self.triggers if t.search(message)), None)


@dataclass(frozen=True)
class Caller:
    """Who sends a message: the account, and the cached API token it came with (None: the
    operator's own command line, or a route that has just read its token from the database)."""

    account_id: int
    token: CachedToken | None = None


class SettingsCache:
    def __init__(self) -> None:
        self._callers: dict[str, Caller] = {}
        """By the token's SHA-256."""
        self._assistants: dict[tuple[int, int], tuple[int, CachedAssistant]] = {}
        self._subscriptions: dict[int, tuple[int, Subscriptions]] = {}
        """By account id."""

    def caller(self, token_sha256: str) -> Caller | None:
        return self._callers.get(token_sha256)

    def keep_caller(self, token_sha256: str, caller: Caller) -> None:
        _make_room(self._callers)
        self._callers[token_sha256] = caller

    def assistant(self, account_id: int, assistant_id: int, settings_version: int) -> CachedAssistant | None:
        """The assistant, if it was read at this settings version of its account."""
        version, cached = self._assistants.get((account_id, assistant_id), (None, None))
        return cached if version == settings_version else None

    def keep_assistant(self, cached: CachedAssistant, settings_version: int) -> None:
        _make_room(self._assistants)
        self._assistants[(cached.assistant.account_id, cached.assistant.id)] = (settings_version, cached)

    def forget_caller(self, token_sha256: str) -> None:
        self._callers.pop(token_sha256, None)

    def subscriptions(self, account_id: int, settings_version: int) -> Subscriptions | None:
        """The account's event subscriptions, if they were read at this settings version."""
        version, subscribed = self._subscriptions.get(account_id, (None, None))
        return subscribed if version == settings_version else None

    def keep_subscriptions(self, account_id: int, subscribed: Subscriptions, settings_version: int) -> None:
        _make_room(self._subscriptions)
        self._subscriptions[account_id] = (settings_version, subscribed)


def _make_room(entries: dict[Any, Any]) -> None:
    if len(entries) >= MAX_ENTRIES:
        entries.clear()
