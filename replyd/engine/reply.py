"""The reply pipeline behind ``POST /api/ai/generate-reply`` and a chat's messages.

One unit of work per message, in three short transactions with the model call between them:

1. receive: under the conversation's lock, read what the turn needs (conversation, balance,
   recent history) and store the customer's message, marked ``pending``, so that operators
   see it at once and a crash during the model call loses nothing;
2. think: build the prompt and let the model answer, calling functions on the way, with no
   transaction open;
3. settle: store the reply, mark the message ``answered``, debit the account and keep the
   Idempotency-Key's answer, all at once.

If the model fails the message stays, marked ``failed`` with the error, and nothing is
charged; the client's retry (same key, or the same text while it is still unanswered) answers
that message instead of storing it again. An error before the message is stored (no such
assistant, a low balance) leaves everything as it was."""

import asyncio
import logging
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from replyd.clock import utcnow
from replyd.engine import balance_alert, receive
from replyd.engine.function_loop import Answer, answer
from replyd.engine.history import Histories, History
from replyd.engine.idempotency import IdempotencyClaims, IdempotencyKey
from replyd.engine.prompt import Memory, Prompt, build_prompt, history_limit, stored_turn, system_prompt
from replyd.engine.receive import ReplyRequest
from replyd.engine.settings_cache import CachedAssistant, CachedToken, Caller, SettingsCache
from replyd.engine.summary_ahead import SummariesAhead, SummaryJob
from replyd.engine.variables import Scalar
from replyd.errors import AssistantNotFound, ConversationNotFound, Forbidden, ReplydError, Unauthenticated
from replyd.events.outbox import Subscriptions, conversation_data, emit, expect_sending, message_events, subscriptions
from replyd.events.types import CONVERSATION_CREATED, FUNCTION_FAILED, HANDOFF_REQUESTED
from replyd.functions.signing import valid_secrets
from replyd.functions.spec import FunctionSpec
from replyd.functions.toolbox import Toolbox
from replyd.functions.webhook import CallContext, WebhookCaller
from replyd.limits import Locks
from replyd.money import reply_cost_micros
from replyd.notices import Notices
from replyd.providers.base import Options
from replyd.providers.registry import ProviderRegistry
from replyd.store import accounts, assistants, conversations, idempotency, ledger
from replyd.store.conversations import OpenConversation
from replyd.store.session import session_factory
from replyd.store.tables import Assistant, role_of
from replyd.telemetry import Telemetry

log = logging.getLogger(__name__)

UNKNOWN_TOKEN = "The API token is unknown or revoked; create one with `replyd tokens create`."
OPERATOR_TOKEN = "An operator token signs in to the console only; the API takes replies and admin tokens."

GENERATE_REPLY_ROUTE = "/api/ai/generate-reply"
"""Part of an Idempotency-Key's fingerprint, so a key means one request of one endpoint."""


@dataclass(frozen=True)
class ReplyResult:
    conversation_id: str
    customer_identifier: str | None
    reply: str | None
    ai_disabled: bool
    function_calls: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Turn:
    """What the pipeline knows once the customer's message is stored, under the lock."""

    assistant: Assistant
    functions: tuple[FunctionSpec, ...]
    """The assistant's functions, as validated when it was cached."""
    conversation: OpenConversation
    message_id: int
    """The customer's message this turn answers."""
    reserved_micros: int
    """What the turn holds of the account's balance until it settles."""
    variables: dict[str, Scalar]
    memory: Memory
    signing_secrets: list[str]
    """The account's webhook signing secrets valid now, for the functions the model calls."""
    subscribed: Subscriptions
    """The event types the account's endpoints take."""
    balance_low_micros: int | None

    @property
    def conversation_id(self) -> str:
        return self.conversation.id


@dataclass(frozen=True)
class Said:
    """A message just stored, as its ``message.created`` event tells it."""

    id: int
    role: str
    author: str
    content: str
    created_at: datetime


@dataclass(frozen=True)
class Telling:
    """The events telling of a message about to be stored, made once it has its id: the store
    writes them with the message (``conversations.add_message``'s ``told``)."""

    account_id: int
    conversation: OpenConversation
    subscribed: Subscriptions
    author: str
    content: str
    created_at: datetime

    def __call__(self, message_id: int) -> list[dict[str, Any]]:
        said = Said(message_id, role_of(self.author), self.author, self.content, self.created_at)
        return message_events(self.account_id, self.conversation, said, self.subscribed)


@dataclass(frozen=True)
class Thought:
    """What the model made of a turn, and the prompt and budget it made it from."""

    system_prompt: str
    budget_tokens: int
    prompt: Prompt
    reply: Answer


class ReplyEngine:
    def __init__(
        self,
        db: AsyncEngine,
        providers: ProviderRegistry,
        locks: Locks,
        claims: IdempotencyClaims,
        webhooks: WebhookCaller,
        telemetry: Telemetry,
        notices: Notices,
        summaries: SummariesAhead | None,
    ) -> None:
        """``summaries``: where summaries are written ahead; None summarises only inline.
        A turn's two transactions run on bare connections of ``db``; the rest in sessions."""
        self._cache = SettingsCache()
        self._histories = Histories()
        self._db = db
        self._sessions = session_factory(db)
        self._providers = providers
        self._locks = locks
        self._claims = claims
        self._notices = notices
        self._webhooks = webhooks
        self._telemetry = telemetry
        self._summaries = summaries

    async def authenticate(self, secret: str) -> Caller:
        """The account and API token of a reply's bearer ``secret``, from the cache when it
        is there: the reply's first transaction checks it is still current (``_receive``)."""
        digest = accounts.hash_token(secret)
        cached = self._cache.caller(digest)
        if cached is not None:
            return cached
        async with self._sessions() as session:
            token = await accounts.find_active_token(session, secret)
            if token is None:
                raise Unauthenticated(UNKNOWN_TOKEN)
            if token.scope == "operator":
                raise Forbidden(OPERATOR_TOKEN)
            funds = await accounts.get_funds(session, token.account_id)
        caller = Caller(token.account_id, CachedToken(token.id, digest, token.rate_limit, funds.settings_version))
        self._cache.keep_caller(digest, caller)
        return caller

    async def reply(
        self, caller: Caller, request: ReplyRequest, idempotency_key: str | None = None, channel_id: int | None = None
    ) -> ReplyResult:
        """Answer a customer's message (generate-reply, or one that came on ``channel_id``). With
        an Idempotency-Key, a retry of the same request gets the first answer again."""
        key = IdempotencyKey.of(idempotency_key, GENERATE_REPLY_ROUTE, asdict(request)) if idempotency_key else None
        return await self._reply_once(caller, request, key, channel_id)

    async def reply_in_conversation(
        self, account_id: int, conversation_id: str, message: str, idempotency_key: str | None = None
    ) -> ReplyResult:
        """A message to an existing conversation, addressed by its id (widget and test chats)."""
        route = f"messages:{conversation_id}"
        key = (
            IdempotencyKey.of(idempotency_key, route, asdict(ReplyRequest(0, None, message)))
            if idempotency_key
            else None
        )
        async with self._sessions() as session:
            conversation = await conversations.get_conversation(session, account_id, conversation_id)
        if conversation is None:
            raise ConversationNotFound(f"Conversation {conversation_id} was not found in your account.")
        request = ReplyRequest(
            conversation.assistant_id, conversation.customer_identifier, message, conversation_id=conversation.id
        )
        return await self._reply_once(Caller(account_id), request, key)

    async def drain(self, timeout_s: float) -> None:
        """Let summaries being written ahead finish (at shutdown), at most ``timeout_s``."""
        if self._summaries is not None:
            await self._summaries.drain(timeout_s)

    async def _reply_once(
        self, caller: Caller, request: ReplyRequest, key: IdempotencyKey | None, channel_id: int | None = None
    ) -> ReplyResult:
        """Claim the Idempotency-Key, then take the conversation's lock: messages of one
        conversation run one at a time, in arrival order, across processes."""
        async with self._claims.claim(caller.account_id, key) as claim:
            if claim.answer is not None:
                await self._check_caller(caller)  # a replay reads nothing else that would check it
                return ReplyResult(**claim.answer)
            lock = lock_key(request.assistant_id, request.customer_identifier, request.conversation_id)
            async with self._locks.hold(lock):
                return await self._reply_in_order(caller, request, claim.key, channel_id)

    async def _reply_in_order(
        self, caller: Caller, request: ReplyRequest, key: IdempotencyKey | None, channel_id: int | None
    ) -> ReplyResult:
        turn = await self._receive(caller, request, key, channel_id)
        self._notices.tell(turn.conversation_id)  # the customer's message is there, the AI typing
        if isinstance(turn, ReplyResult):  # the AI is off: a human answers
            return turn
        try:
            thought = await self._think(request, turn)
            result = await self._settle(caller.account_id, request, turn, thought, key)
        except BaseException as exc:
            await asyncio.shield(self._mark_failed(caller.account_id, turn, exc))
            raise
        finally:
            self._notices.tell(turn.conversation_id)  # answered, or failed: the AI has stopped typing
        if thought.prompt.cut:
            self._telemetry.cuts.labels(thought.prompt.cut).inc()
        if thought.prompt.fold_ahead and self._summaries is not None:
            self._summaries.start(_summary_job(turn, thought, self._providers))
        return result

    async def _receive(
        self, caller: Caller, request: ReplyRequest, key: IdempotencyKey | None, channel_id: int | None
    ) -> Turn | ReplyResult:
        """Step 1, one short transaction: read what the turn needs and keep the customer's
        message. With the AI off, or a handoff trigger in the message, that is all (no model,
        no charge), and its answer is final."""
        account_id = caller.account_id
        async with self._db.begin() as db:
            funds = await accounts.get_funds(db, account_id)
            if caller.token is not None and caller.token.settings_version != funds.settings_version:
                await self._check_token(db, caller.token, funds.settings_version)
            cached = await self._assistant(db, account_id, request.assistant_id, funds.settings_version)
            subscribed = await self._subscriptions(db, account_id, funds.settings_version)
            assistant = cached.assistant
            conversation, variables, is_new = await receive.open_conversation(
                db, account_id, assistant.id, request, channel_id
            )
            if is_new:
                data = {"conversation": conversation_data(conversation)}
                await emit(db, account_id, CONVERSATION_CREATED, data, conversation.id, subscribed)
            trigger = None if conversation.ai_disabled else cached.trigger_in(request.message)
            if conversation.ai_disabled or trigger is not None:
                await self._store(db, account_id, conversation, subscribed, "customer", request.message)
                reply = None
                if trigger is not None:
                    reason = f"The customer's message matched the handoff trigger {trigger!r}."
                    conversation = await self._hand_off(db, account_id, conversation, subscribed, "rule", reason)
                    reply = assistant.handoff_message
                    await self._store(db, account_id, conversation, subscribed, "ai", reply)
                answer = ReplyResult(conversation.id, request.customer_identifier, reply=reply, ai_disabled=True)
                await _remember_answer(db, account_id, key, answer)
                return answer
            limit = history_limit(assistant.context_budget_tokens)
            history = History([]) if is_new else await self._histories.read(db, conversation, limit)
            reserved = receive.most_a_reply_costs(assistant)
            now = utcnow()
            told = Telling(account_id, conversation, subscribed, "customer", request.message, now)
            message_id = await receive.keep_message(
                db, account_id, conversation.id, request.message, history.unanswered, reserved, now, told
            )
            await receive.hold_funds(db, account_id, funds, reserved)
            memory = Memory(
                conversation.summary,
                conversation.summary_through_id,
                history.before(message_id),
                conversations.summary_ahead(conversation),
            )
        signing_secrets = valid_secrets(
            funds.webhook_secret, funds.previous_webhook_secret, funds.webhook_secret_rotated_at, utcnow()
        )
        return Turn(
            assistant,
            cached.functions,
            conversation,
            message_id,
            reserved,
            variables,
            memory,
            signing_secrets,
            subscribed,
            funds.balance_low_micros,
        )

    async def _store(
        self,
        db: AsyncConnection,
        account_id: int,
        conversation: OpenConversation,
        subscribed: Subscriptions,
        author: str,
        text: str,
        **usage: Any,
    ) -> int:
        """Keep a message of the customer's or the AI's that is final as it is stored, and tell of it."""
        now = utcnow()
        told = Telling(account_id, conversation, subscribed, author, text, now)
        message_id = await conversations.add_message(
            db, conversation.id, author=author, content=text, created_at=now, told=told, **usage
        )
        await expect_sending(db, conversation, author, message_id, subscribed)
        return message_id

    async def _hand_off(
        self,
        db: AsyncConnection,
        account_id: int,
        conversation: OpenConversation,
        subscribed: Subscriptions,
        by: str,
        reason: str | None,
    ) -> OpenConversation:
        """Turn the AI off for a human (``by`` the model's call or a ``rule``), and tell of it."""
        await conversations.turn_ai_off(db, conversation.id, by, reason)
        conversation = replace(conversation, ai_disabled=True)
        data = {"conversation": conversation_data(conversation), "by": by, "reason": reason}
        await emit(db, account_id, HANDOFF_REQUESTED, data, conversation.id, subscribed)
        return conversation

    async def _check_caller(self, caller: Caller) -> None:
        """Refuse a cached token revoked since it was cached (the receive transaction does the
        same with the settings version it reads anyway)."""
        if caller.token is None:
            return
        async with self._db.connect() as db:
            funds = await accounts.get_funds(db, caller.account_id)
            if caller.token.settings_version != funds.settings_version:
                await self._check_token(db, caller.token, funds.settings_version)

    async def _check_token(self, db: AsyncConnection, token: CachedToken, settings_version: int) -> None:
        """The account's tokens or assistants changed since the token was cached: is it still active?"""
        account_id = await accounts.active_token_account(db, token.id)
        if account_id is None:
            self._cache.forget_caller(token.sha256)
            raise Unauthenticated(UNKNOWN_TOKEN)
        self._cache.keep_caller(token.sha256, Caller(account_id, replace(token, settings_version=settings_version)))

    async def _subscriptions(self, db: AsyncConnection, account_id: int, settings_version: int) -> Subscriptions:
        subscribed = self._cache.subscriptions(account_id, settings_version)
        if subscribed is None:
            subscribed = await subscriptions(db, account_id)
            self._cache.keep_subscriptions(account_id, subscribed, settings_version)
        return subscribed

    async def _assistant(
        self, db: AsyncConnection, account_id: int, assistant_id: int, settings_version: int
    ) -> CachedAssistant:
        cached = self._cache.assistant(account_id, assistant_id, settings_version)
        if cached is not None:
            return cached
        assistant = await assistants.read_assistant(db, account_id, assistant_id)
        if assistant is None:
            raise AssistantNotFound(f"Assistant {assistant_id} was not found in your account.")
        cached = CachedAssistant.of(assistant)
        self._cache.keep_assistant(cached, settings_version)
        return cached

    async def _think(self, request: ReplyRequest, turn: Turn) -> Thought:
        """Step 2, no transaction open: the prompt (summarising a cut if due), then the model."""
        assistant = turn.assistant
        provider, model_name = self._providers.resolve(assistant.model)
        system = system_prompt(
            assistant.system_prompt, turn.variables, request.customer_identifier or "", turn.conversation_id, utcnow()
        )
        budget = await self._budget(assistant)
        summarizer = self._providers.resolve(assistant.summary_model or assistant.model)
        prompt = await build_prompt(system, turn.memory, request.message, budget, provider, summarizer)
        reply = await answer(
            provider,
            model_name,
            prompt.messages,
            Options(assistant.temperature, assistant.max_reply_tokens, cache_key=turn.conversation_id),
            self._toolbox(request, turn),
            assistant.max_function_rounds,
            assistant.handoff_message,
            self._telemetry,
        )
        return Thought(system, budget, prompt, reply)

    async def _settle(
        self, account_id: int, request: ReplyRequest, turn: Turn, thought: Thought, key: IdempotencyKey | None
    ) -> ReplyResult:
        """Step 3, one transaction: the reply, the answered mark, the key's answer and, last, the charge."""
        assistant, prompt, reply = turn.assistant, thought.prompt, thought.reply
        usage = reply.usage + prompt.usage
        cost = reply_cost_micros(
            usage.prompt_tokens,
            usage.completion_tokens,
            assistant.input_price_micros,
            assistant.output_price_micros,
            assistant.reply_fee_micros,
        )
        result = ReplyResult(
            turn.conversation_id, request.customer_identifier, reply.text, reply.handed_off, reply.function_calls
        )
        async with self._db.begin() as db:
            if not await conversations.set_reply_status(db, turn.message_id, "answered", was=("pending",)):
                raise ReplydError()  # settled by a process that outlived its lock: never answer twice
            conversation = turn.conversation
            if reply.handed_off:
                conversation = await self._hand_off(
                    db, account_id, conversation, turn.subscribed, "model", reply.handoff_reason
                )
            message_id = await self._store(
                db,
                account_id,
                conversation,
                turn.subscribed,
                "ai",
                reply.text,
                function_calls=reply.function_calls,
                prompt_tokens=usage.prompt_tokens,
                completion_tokens=usage.completion_tokens,
                cached_tokens=usage.cached_tokens,
                cost_micros=cost,
            )
            for failure in reply.failed_calls:
                data = {"conversation": conversation_data(conversation), "function": failure}
                await emit(db, account_id, FUNCTION_FAILED, data, conversation.id, turn.subscribed)
            if prompt.summary_through_id != turn.memory.summary_through_id:
                await conversations.set_summary(db, turn.conversation_id, prompt.summary, prompt.summary_through_id)
            await _remember_answer(db, account_id, key, result)
            # The charge comes last: from it to the commit, the account's row is locked.
            await ledger.record(
                db,
                account_id,
                "reply",
                -cost,
                assistant_id=assistant.id,
                conversation_id=turn.conversation_id,
                message_id=message_id,
                prompt_tokens=usage.prompt_tokens,
                completion_tokens=usage.completion_tokens,
                released_micros=turn.reserved_micros,
            )
            if turn.balance_low_micros is not None:
                await balance_alert.check(db, account_id, cost, turn.balance_low_micros, turn.subscribed)
        exchange = [
            stored_turn(turn.message_id, "user", request.message, []),
            stored_turn(message_id, "assistant", reply.text, reply.function_calls),
        ]
        self._histories.keep(turn.conversation_id, [*turn.memory.recent, *exchange])
        return result

    async def _mark_failed(self, account_id: int, turn: Turn, exc: BaseException) -> None:
        """The model (or anything on the way) failed: the message stays, unanswered, saying why,
        and its reservation is given back."""
        error = exc.message if isinstance(exc, ReplydError) else receive.INTERRUPTED
        try:
            async with self._db.begin() as db:
                if await conversations.set_reply_status(db, turn.message_id, "failed", was=("pending",), error=error):
                    await accounts.release(db, account_id, turn.reserved_micros)
        except Exception:  # the client hears of the first failure; the message's next turn settles it
            log.warning("could not mark message %s as failed", turn.message_id, exc_info=True)

    async def _budget(self, assistant: Assistant) -> int:
        """The assistant's context budget, within what its model can take besides the reply."""
        limit = await self._providers.context_limit(assistant.model, assistant.max_reply_tokens)
        return min(assistant.context_budget_tokens, limit) if limit else assistant.context_budget_tokens

    def _toolbox(self, request: ReplyRequest, turn: Turn) -> Toolbox:
        assistant = turn.assistant
        call_context = CallContext(
            assistant.id, turn.conversation_id, request.customer_identifier, turn.variables, turn.signing_secrets
        )
        return Toolbox(list(turn.functions), assistant.handoff_enabled, self._webhooks, call_context)


def lock_key(assistant_id: int, customer_identifier: str | None, conversation_id: str | None) -> str:
    """One key per conversation, whichever way it is addressed: generate-reply knows the
    customer before the conversation exists; widget chats have only the id."""
    if customer_identifier is not None:
        return f"customer:{assistant_id}:{customer_identifier}"
    return f"conversation:{conversation_id}"


async def _remember_answer(
    db: AsyncConnection, account_id: int, key: IdempotencyKey | None, result: ReplyResult
) -> None:
    if key is not None:
        await idempotency.complete(db, account_id, key.key, 200, asdict(result), result.conversation_id)


def _summary_job(turn: Turn, thought: Thought, providers: ProviderRegistry) -> SummaryJob:
    """The coming cut's summary, to write ahead now that the prompt passed the high-water mark."""
    assistant, prompt = turn.assistant, thought.prompt
    return SummaryJob(
        turn.conversation_id,
        prompt.summary_through_id,
        prompt.summary,
        prompt.fold_ahead,
        thought.budget_tokens,
        providers.resolve(assistant.summary_model or assistant.model),
        thought.system_prompt,
        providers.resolve(assistant.model),
    )
