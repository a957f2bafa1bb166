"""The web chat widget: its settings per assistant, and what a page's widget may do with its
public key. A page is trusted with nothing secret: the key only names the widget, every request
must come from one of its allowed origins, and a visitor is known by an id replyd signed (or by
an identity the integrator's server signed), so no visitor can read another's conversation.

Replies go through the reply engine like the API's (balance, charging, takeover) and the
conversations through the conversation service, under the same locks."""

import hashlib
import hmac
import secrets
from base64 import urlsafe_b64decode, urlsafe_b64encode
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from replyd.engine.reply import ReplyEngine, ReplyResult
from replyd.errors import (
    AssistantNotFound,
    ConversationNotFound,
    Forbidden,
    InsufficientBalance,
    NotFound,
    ProviderError,
    Unauthenticated,
)
from replyd.services.conversations import ConversationService
from replyd.services.reply_limits import ReplyLimits
from replyd.services.views import ConversationHistory, MessageView
from replyd.services.widget_config import WidgetConfig
from replyd.store import assistants, conversations, widgets
from replyd.store.widgets import Widget

SHOWN_AUTHORS = ("customer", "ai", "agent")
"""What a visitor sees of a conversation: the messages, never the notes replyd keeps for itself."""
UNAVAILABLE = "The assistant cannot answer right now; please try again later."
"""What a visitor is told when the account's balance or the model fails (the code says which)."""
VISITOR_PREFIX = "visitor:"
"""The customer identifier of a visitor who is not identified by the page."""


@dataclass(frozen=True)
class WidgetView:
    assistant_id: int
    account_id: int
    public_key: str
    config: WidgetConfig

    @classmethod
    def of(cls, row: Widget) -> "WidgetView":
        config = WidgetConfig.model_validate(
            {"enabled": row.enabled, "allowed_origins": row.allowed_origins, **row.theme}
        )
        return cls(row.assistant_id, row.account_id, row.public_key, config)


@dataclass(frozen=True)
class PageWidget:
    """A widget as a page's request found it: its origin allowed, the account's secret at hand."""

    widget: WidgetView
    secret: str

    def visitor_token(self, customer_identifier: str) -> str:
        """Opaque to the page: the identifier and replyd's signature of it."""
        encoded = urlsafe_b64encode(customer_identifier.encode()).decode().rstrip("=")
        return f"v1.{encoded}.{self._sign('visitor', customer_identifier)}"

    def visitor_of(self, token: str) -> str:
        """The customer identifier a visitor token stands for; ``Unauthenticated`` for one replyd
        did not sign with this account's secret."""
        version, _, rest = token.partition(".")
        encoded, _, signature = rest.partition(".")
        try:
            identifier = urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
        except ValueError:
            identifier = ""
        expected = self._sign("visitor", identifier)
        if version != "v1" or not identifier or not hmac.compare_digest(signature.encode(), expected.encode()):
            raise Unauthenticated("This visitor id is not valid here; start a new conversation without it.")
        return identifier

    def identified(self, user_id: str, user_hash: str) -> str:
        """``user_id`` as the customer identifier, when ``user_hash`` is its hex HMAC-SHA256 with
        the account's widget secret (Intercom's identity verification, made by the integrator's
        server); ``Unauthenticated`` otherwise."""
        expected = hmac.new(self.secret.encode(), user_id.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(user_hash.lower().encode(), expected.encode()):
            raise Unauthenticated("The user_hash does not match the user_id; sign it with the account's widget secret.")
        return user_id

    def _sign(self, purpose: str, text: str) -> str:
        digest = hmac.new(self.secret.encode(), f"{purpose}\0{text}".encode(), hashlib.sha256).digest()
        return urlsafe_b64encode(digest[:24]).decode()


class WidgetService:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        conversations: ConversationService,
        replies: ReplyEngine,
        limits: ReplyLimits,
        visitor_rate: str,
        ip_rate: str,
    ) -> None:
        self._sessions = sessions
        self._conversations = conversations
        self._replies = replies
        self._limits = limits
        self._visitor_rate = visitor_rate
        self._ip_rate = ip_rate

    async def settings(self, account_id: int, assistant_id: int) -> WidgetView | None:
        """The assistant's widget; None until its settings were first saved."""
        async with self._sessions() as session:
            row = await widgets.get_widget(session, account_id, assistant_id)
            return WidgetView.of(row) if row else None

    async def save(self, account_id: int, assistant_id: int, config: WidgetConfig) -> WidgetView:
        async with self._sessions() as session, session.begin():
            if await assistants.get_assistant(session, account_id, assistant_id) is None:
                raise AssistantNotFound(f"Assistant {assistant_id} was not found in your account.")
            await widgets.widget_secret(session, account_id)
            row = await widgets.save_widget(
                session, account_id, assistant_id, config.enabled, config.allowed_origins, config.theme()
            )
            return WidgetView.of(row)

    async def secret(self, account_id: int) -> str:
        """What the integrator's server signs visitors' user ids with (shown in the console)."""
        async with self._sessions() as session, session.begin():
            return await widgets.widget_secret(session, account_id)

    async def for_page(self, public_key: str, origin: str | None) -> PageWidget:
        """The widget of ``public_key`` for a request from ``origin``: ``NotFound`` for an
        unknown or turned-off key, ``Forbidden`` for an origin the widget does not allow."""
        async with self._sessions() as session, session.begin():
            row = await widgets.find_by_key(session, public_key)
            if row is None or not row.enabled:
                raise NotFound("No chat widget has this key, or it is turned off.")
            widget = WidgetView.of(row)
            if origin is None or origin not in widget.config.allowed_origins:
                raise Forbidden(f"This chat widget does not answer pages of {origin or 'an unnamed origin'}.")
            return PageWidget(widget, await widgets.widget_secret(session, row.account_id))

    async def open(self, page: PageWidget, customer_identifier: str | None, address: str) -> ConversationHistory:
        """The visitor's conversation, started if it is new (a new visitor when
        ``customer_identifier`` is None). New visitors count against the address's limit."""
        if customer_identifier is None:
            await self._limits.count_as(f"widget-ip:{address}", self._ip_rate)
            customer_identifier = VISITOR_PREFIX + secrets.token_urlsafe(16)
        widget = page.widget
        view = await self._conversations.find_or_start(
            widget.account_id, widget.assistant_id, "widget", customer_identifier
        )
        return ConversationHistory(view.conversation, shown(view.messages))

    async def history(self, page: PageWidget, customer_identifier: str, conversation_id: str) -> list[MessageView]:
        await self.check_visitor(page, customer_identifier, conversation_id)
        return shown((await self._conversations.get(page.widget.account_id, conversation_id)).messages)

    async def send(
        self, page: PageWidget, customer_identifier: str, conversation_id: str, text: str, address: str
    ) -> ReplyResult:
        """A visitor's message and the AI's answer (none while a human has taken over)."""
        await self.check_visitor(page, customer_identifier, conversation_id)
        await self._limits.count_as(f"widget-ip:{address}", self._ip_rate)
        visitor_key = f"widget-visitor:{page.widget.assistant_id}:{customer_identifier}"
        await self._limits.count_as(visitor_key, self._visitor_rate)
        self._conversations.check_message(text)
        try:
            return await self._replies.reply_in_conversation(page.widget.account_id, conversation_id, text)
        except (InsufficientBalance, ProviderError) as error:
            error.message = UNAVAILABLE  # the account's balance, the provider's words: not the visitor's business
            raise

    async def since(self, conversation_id: str, after_id: int) -> tuple[list[MessageView], bool]:
        """For a live widget: the messages after ``after_id``, and whether the AI is answering."""
        async with self._sessions() as session:
            rows = await conversations.messages_since(session, conversation_id, after_id)
        is_typing = any(row.reply_status == "pending" for row in rows)
        return shown([MessageView.of(row) for row in rows if row.id > after_id]), is_typing

    async def check_visitor(self, page: PageWidget, customer_identifier: str, conversation_id: str) -> None:
        """Refuses a conversation that is not this visitor's with this widget's assistant: to
        anyone else it is not there (``ConversationNotFound``), as another account's is to the API."""
        widget = page.widget
        async with self._sessions() as session:
            conversation = await conversations.get_conversation(session, widget.account_id, conversation_id)
        if (
            conversation is None
            or conversation.assistant_id != widget.assistant_id
            or conversation.customer_identifier != customer_identifier
        ):
            raise ConversationNotFound(f"Conversation {conversation_id} is not this visitor's.")


def shown(messages: list[MessageView]) -> list[MessageView]:
    return [m for m in messages if m.author in SHOWN_AUTHORS]
