"""The reply pipeline behind ``POST /api/ai/generate-reply``.

For one message: find the assistant, take the conversation's lock, merge variables, check
the balance, build the model input, let the model answer (calling functions on the way)
with no database transaction open, then store the exchange and the charge in one
transaction. Any error before that last step leaves everything as it was."""

import uuid
from dataclasses import asdict, dataclass, field
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from replyd.clock import utcnow
from replyd.engine.function_loop import Answer, answer
from replyd.engine.prompt import Memory, Prompt, build_prompt, recent_history, system_prompt
from replyd.engine.summary_ahead import SummariesAhead, SummaryJob
from replyd.engine.variables import Scalar, merge_variables
from replyd.errors import AssistantNotFound, ConversationNotFound, InsufficientBalance
from replyd.functions.spec import FunctionSpec
from replyd.functions.toolbox import Toolbox
from replyd.functions.webhook import CallContext, WebhookCaller
from replyd.limits import Locks
from replyd.money import format_micros, reply_cost_micros
from replyd.providers.base import Options
from replyd.providers.registry import ProviderRegistry
from replyd.store import accounts, assistants, conversations, idempotency, ledger
from replyd.store.conversations import SummaryAhead
from replyd.store.tables import Assistant, Conversation
from replyd.telemetry import Telemetry


@dataclass(frozen=True)
class ReplyRequest:
    """A customer's message: to the conversation with ``customer_identifier`` (generate-reply,
    created on its first message), or to an existing conversation by ``conversation_id``
    (widget and test chats)."""

    assistant_id: int
    customer_identifier: str | None
    message: str
    variables: dict[str, Scalar] | None = None
    conversation_id: str | None = None


@dataclass(frozen=True)
class ReplyResult:
    conversation_id: str
    customer_identifier: str | None
    reply: str | None
    ai_disabled: bool
    function_calls: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class Turn:
    """What the pipeline knows about the conversation once it holds its lock."""

    conversation_id: str
    is_new: bool
    variables: dict[str, Scalar]
    ai_disabled: bool
    summary: str | None = None
    summary_through_id: int | None = None
    summary_ahead: SummaryAhead | None = None


@dataclass(frozen=True)
class IdempotencyKey:
    """The client's key and a hash of the request it came with; its answer is stored with the exchange."""

    key: str
    request_sha256: str


class ReplyEngine:
    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        providers: ProviderRegistry,
        locks: Locks,
        webhooks: WebhookCaller,
        telemetry: Telemetry,
        summaries: SummariesAhead | None,
    ) -> None:
        """``summaries``: where summaries are written ahead; None summarises only inline."""
        self._sessions = sessions
        self._providers = providers
        self._locks = locks
        self._webhooks = webhooks
        self._telemetry = telemetry
        self._summaries = summaries

    async def reply(
        self, account_id: int, request: ReplyRequest, idempotency_key: IdempotencyKey | None = None
    ) -> ReplyResult:
        async with self._sessions() as session:
            assistant = await assistants.get_assistant(session, account_id, request.assistant_id)
        if assistant is None:
            raise AssistantNotFound(f"Assistant {request.assistant_id} was not found in your account.")
        async with self._locks.hold(lock_key(assistant.id, request.customer_identifier, request.conversation_id)):
            return await self._reply_in_order(account_id, assistant, request, idempotency_key)

    async def reply_in_conversation(
        self, account_id: int, conversation_id: str, message: str, idempotency_key: IdempotencyKey | None = None
    ) -> ReplyResult:
        """A message to an existing conversation, addressed by its id."""
        async with self._sessions() as session:
            conversation = await conversations.get_conversation(session, account_id, conversation_id)
        if conversation is None:
            raise ConversationNotFound(f"Conversation {conversation_id} was not found in your account.")
        request = ReplyRequest(
            conversation.assistant_id, conversation.customer_identifier, message, conversation_id=conversation.id
        )
        return await self.reply(account_id, request, idempotency_key)

    async def _reply_in_order(
        self, account_id: int, assistant: Assistant, request: ReplyRequest, key: IdempotencyKey | None
    ) -> ReplyResult:
        async with self._sessions() as session:
            conversation = await _find(session, account_id, assistant.id, request)
            turn = _turn(conversation, request)
            if turn.ai_disabled:
                return await self._store_takeover_message(session, account_id, request, turn, key)
            await _check_balance(session, account_id, assistant)
            memory = await _memory(session, turn, assistant)
            secret = await accounts.webhook_secret(session, account_id)
        provider, model_name = self._providers.resolve(assistant.model)
        system = system_prompt(
            assistant.system_prompt, turn.variables, request.customer_identifier or "", turn.conversation_id, utcnow()
        )
        summarizer = self._providers.resolve(assistant.summary_model or assistant.model)
        limit = await self._providers.context_limit(assistant.model, assistant.max_reply_tokens)
        budget = min(assistant.context_budget_tokens, limit) if limit else assistant.context_budget_tokens
        prompt = await build_prompt(system, memory, request.message, budget, provider, summarizer)
        reply = await answer(
            provider,
            model_name,
            prompt.messages,
            Options(assistant.temperature, assistant.max_reply_tokens, cache_key=turn.conversation_id),
            self._toolbox(assistant, request, turn, secret),
            assistant.max_function_rounds,
            assistant.handoff_message,
            self._telemetry,
        )
        result = await self._store_exchange(account_id, assistant, request, turn, prompt, reply, key)
        if prompt.cut:
            self._telemetry.cuts.labels(prompt.cut).inc()
        if prompt.fold_ahead and self._summaries is not None:
            self._summaries.start(
                SummaryJob(
                    turn.conversation_id,
                    prompt.summary_through_id,
                    prompt.summary,
                    prompt.fold_ahead,
                    budget,
                    summarizer,
                    system,
                    (provider, model_name),
                )
            )
        return result

    async def drain(self, timeout_s: float) -> None:
        """Let summaries being written ahead finish (at shutdown), at most ``timeout_s``."""
        if self._summaries is not None:
            await self._summaries.drain(timeout_s)

    def _toolbox(self, assistant: Assistant, request: ReplyRequest, turn: Turn, secret: str) -> Toolbox:
        call_context = CallContext(
            assistant.id, turn.conversation_id, request.customer_identifier, turn.variables, secret
        )
        functions = [FunctionSpec.model_validate(f) for f in assistant.functions]
        return Toolbox(functions, assistant.handoff_enabled, self._webhooks, call_context)

    async def _store_takeover_message(
        self,
        session: AsyncSession,
        account_id: int,
        request: ReplyRequest,
        turn: Turn,
        key: IdempotencyKey | None,
    ) -> ReplyResult:
        """With the AI disabled a human answers: keep the message, call no model, charge nothing."""
        await conversations.touch_conversation(session, turn.conversation_id, turn.variables)
        await conversations.add_message(
            session, turn.conversation_id, role="user", author="customer", content=request.message
        )
        result = ReplyResult(turn.conversation_id, request.customer_identifier, reply=None, ai_disabled=True)
        await _remember_answer(session, account_id, key, result)
        await session.commit()
        return result

    async def _store_exchange(
        self,
        account_id: int,
        assistant: Assistant,
        request: ReplyRequest,
        turn: Turn,
        prompt: Prompt,
        reply: Answer,
        key: IdempotencyKey | None,
    ) -> ReplyResult:
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
        async with self._sessions() as session, session.begin():
            if turn.is_new:
                await conversations.create_conversation(
                    session,
                    turn.conversation_id,
                    account_id=account_id,
                    assistant_id=assistant.id,
                    customer_identifier=request.customer_identifier,
                    type="api",
                    variables=turn.variables,
                )
            else:
                await conversations.touch_conversation(session, turn.conversation_id, turn.variables)
            await conversations.add_message(
                session, turn.conversation_id, role="user", author="customer", content=request.message
            )
            message = await conversations.add_message(
                session,
                turn.conversation_id,
                role="assistant",
                author="ai",
                content=reply.text,
                function_calls=reply.function_calls,
                prompt_tokens=usage.prompt_tokens,
                completion_tokens=usage.completion_tokens,
                cached_tokens=usage.cached_tokens,
                cost_micros=cost,
            )
            if prompt.summary_through_id != turn.summary_through_id:
                await conversations.set_summary(
                    session, turn.conversation_id, prompt.summary, prompt.summary_through_id
                )
            if reply.handed_off:
                await conversations.set_ai_disabled(session, turn.conversation_id, True)
            await ledger.record(
                session,
                account_id,
                "reply",
                -cost,
                assistant_id=assistant.id,
                conversation_id=turn.conversation_id,
                message_id=message.id,
                prompt_tokens=usage.prompt_tokens,
                completion_tokens=usage.completion_tokens,
            )
            await _remember_answer(session, account_id, key, result)
        return result


def lock_key(assistant_id: int, customer_identifier: str | None, conversation_id: str | None) -> str:
    """One key per conversation, whichever way it is addressed: generate-reply knows the
    customer before the conversation exists; widget chats have only the id."""
    if customer_identifier is not None:
        return f"customer:{assistant_id}:{customer_identifier}"
    return f"conversation:{conversation_id}"


async def _find(
    session: AsyncSession, account_id: int, assistant_id: int, request: ReplyRequest
) -> Conversation | None:
    if request.conversation_id is not None:
        conversation = await conversations.get_conversation(session, account_id, request.conversation_id)
        if conversation is None:  # erased while the message waited for the lock
            raise ConversationNotFound(f"Conversation {request.conversation_id} was not found in your account.")
        return conversation
    assert request.customer_identifier is not None
    return await conversations.find_conversation(session, assistant_id, request.customer_identifier)


def _turn(conversation: Conversation | None, request: ReplyRequest) -> Turn:
    if conversation is None:
        return Turn(str(uuid.uuid4()), True, merge_variables({}, request.variables), False)
    variables = merge_variables(conversation.variables, request.variables)
    return Turn(
        conversation.id,
        False,
        variables,
        conversation.ai_disabled,
        conversation.summary,
        conversation.summary_through_id,
        conversations.summary_ahead(conversation),
    )


async def _check_balance(session: AsyncSession, account_id: int, assistant: Assistant) -> None:
    balance = await ledger.balance_micros(session, account_id)
    if balance <= 0 or balance < assistant.reply_fee_micros:
        raise InsufficientBalance(
            f"Your balance ({format_micros(balance)}) is too low for a reply "
            f"(fee {format_micros(assistant.reply_fee_micros)}); top up your account."
        )


async def _memory(session: AsyncSession, turn: Turn, assistant: Assistant) -> Memory:
    if turn.is_new:
        return Memory(None, None, [])
    recent = await recent_history(
        session, turn.conversation_id, turn.summary_through_id, assistant.context_budget_tokens
    )
    return Memory(turn.summary, turn.summary_through_id, recent, turn.summary_ahead)


async def _remember_answer(
    session: AsyncSession, account_id: int, key: IdempotencyKey | None, result: ReplyResult
) -> None:
    if key is not None:
        await idempotency.complete(session, account_id, key.key, 200, asdict(result))
