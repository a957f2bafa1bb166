"""The conversation, the stub model with a provider-style prompt cache, replyd serving in a
thread of this process, and part (a): a long conversation through replyd against the stub."""

import asyncio
import hashlib
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from replyd.app import create_app
from replyd.engine.assistant_config import AssistantConfig
from replyd.engine.summary import INSTRUCTIONS
from replyd.providers.base import CHARS_PER_TOKEN, ESTIMATE, ChatMessage, prompt_tokens
from replyd.settings import Settings
from replyd.store import accounts, conversations
from replyd.store.assistants import create_assistant
from replyd.store.migrate import upgrade_database
from replyd.store.session import create_engine, session_factory
from tests.servers import Scripted, StubModel, completion, serve_in_thread

SUMMARY_MARK = INSTRUCTIONS.split(".")[0]
SYSTEM_PROMPT = "You are the assistant of Bob's Bikes, a bicycle shop in Leeds. Answer briefly and politely."
REQUEST_TIMEOUT_S = 900.0
"""A cold 2,400-token prompt takes minutes on a busy 2-core machine."""

PRODUCTS = ("city bike", "rear light", "chain", "helmet", "cargo trailer", "saddle", "pump", "e-bike battery")
ISSUES = ("squeaks", "arrived late", "is the wrong size", "rattles on cobbles", "will not charge", "feels loose")


# ---------------------------------------------------------------- the conversation itself


def customer_message(conversation: int, n: int) -> str:
    """Deterministic, varied messages; every 20th states a fact the summary should keep."""
    product = PRODUCTS[(n * 3 + conversation) % len(PRODUCTS)]
    issue = ISSUES[(n + conversation * 5) % len(ISSUES)]
    text = f"Message {n}: my {product} (order {conversation * 10_000 + 4_000 + n}) {issue}."
    if n % 20 == 0:
        text += f" FACT order {conversation * 10_000 + 4_000 + n} is paid by card."
    if n % 3 == 1:
        text += " Can you check what happened and tell me when it can be fixed?"
    return text


def stub_reply_text(payload: dict[str, Any]) -> str:
    """A reply of 10 to 40 tokens, fixed by the customer's message."""
    last = next(m["content"] for m in reversed(payload["messages"]) if m["role"] == "user")
    words = 8 + int(hashlib.sha256(last.encode()).hexdigest()[:4], 16) % 24
    filler = ["we", "will", "look", "at", "it", "in", "the", "workshop", "and", "call", "you", "back", "today"]
    return "Thanks for telling us. " + " ".join(filler[i % len(filler)] for i in range(words)) + "."


def stub_rule(payload: dict[str, Any]) -> Scripted:
    """Summaries keep every FACT sentence (deterministic, like the tests' summariser); replies
    come from ``stub_reply_text``."""
    system = payload["messages"][0]["content"]
    if not system.startswith(SUMMARY_MARK):
        return Scripted(text=stub_reply_text(payload))
    lines = payload["messages"][1]["content"].splitlines()
    facts = dict.fromkeys(line.split("FACT ", 1)[1].split(".")[0] for line in lines if "FACT " in line)
    return Scripted(text=" ".join(f"FACT {fact}." for fact in facts) or "Nothing to keep yet.")


def is_summary_request(payload: dict[str, Any]) -> bool:
    return str(payload["messages"][0]["content"]).startswith(SUMMARY_MARK)


@dataclass
class CachingStub(StubModel):
    """``tests/servers.py``'s stub, plus a prompt cache like a provider's: a request's cached
    tokens are the characters (/ 4) it shares as a prefix with the previous request of the same
    ``prompt_cache_key``. Real providers cache in blocks (OpenAI: 1,024 tokens, then steps of
    128), so they report somewhat less."""

    last_prompt: dict[str, str] = field(default_factory=dict)
    usages: list[tuple[bool, int, int]] = field(default_factory=list)
    """Per request: (is a summary, prompt tokens, cached tokens), as reported."""

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/v1/chat/completions", self._complete_cached, methods=["POST"])])

    async def _complete_cached(self, request: Request) -> Response:
        payload = await request.json()
        self.requests.append(payload)
        body = completion(payload, (self.rule(payload) if self.rule else None) or Scripted())
        text = "".join(f"{m['role']}\n{m.get('content') or ''}\n" for m in payload["messages"])
        key = payload.get("prompt_cache_key")
        previous = self.last_prompt.get(key, "") if key else ""
        if key:
            self.last_prompt[key] = text
        usage = body["usage"]
        cached = min(usage["prompt_tokens"], len(os.path.commonprefix([previous, text])) // CHARS_PER_TOKEN)
        usage["prompt_tokens_details"] = {"cached_tokens": cached}
        self.usages.append((is_summary_request(payload), usage["prompt_tokens"], cached))
        return JSONResponse(body)


# ---------------------------------------------------------------- replyd in this process


@dataclass(frozen=True)
class Tenant:
    token: str
    assistant_id: int


@dataclass
class Replyd:
    """replyd serving in a uvicorn thread of this process, with one tenant."""

    app: Any
    client: httpx.Client
    tenant: Tenant
    database_url: str

    def reply(self, message: str, customer: str) -> str:
        response = self.client.post(
            "/api/ai/generate-reply",
            headers={"Authorization": f"Bearer {self.tenant.token}"},
            json={"assistant_id": self.tenant.assistant_id, "customer_identifier": customer, "message": message},
        )
        if response.status_code != 200:
            raise SystemExit(f"generate-reply failed with {response.status_code}: {response.text}")
        conversation_id: str = response.json()["conversation_id"]
        return conversation_id

    def stored_replies(self, conversation_id: str) -> list[tuple[int, int]]:
        """(prompt tokens, cached tokens) of each reply, as replyd stored and billed them."""

        async def work() -> list[tuple[int, int]]:
            engine = create_engine(self.database_url)
            try:
                async with session_factory(engine)() as session:
                    rows = await conversations.all_messages(session, conversation_id)
                    return [(r.prompt_tokens, r.cached_tokens) for r in rows if r.role == "assistant"]
            finally:
                await engine.dispose()

        return asyncio.run(work())


def seed(database_url: str, config: AssistantConfig) -> Tenant:
    async def work() -> Tenant:
        engine = create_engine(database_url)
        try:
            async with session_factory(engine)() as session, session.begin():
                account = await accounts.create_account(session, "bench", 1_000_000 * 1_000_000)
                token = await accounts.create_token(session, account.id, "1000000/minute")
                assistant = await create_assistant(session, account.id, config.to_columns())
                return Tenant(token.secret, assistant.id)
        finally:
            await engine.dispose()

    return asyncio.run(work())


@contextmanager
def running_replyd(work: Path, stub_url: str, config: AssistantConfig) -> Iterator[Replyd]:
    """A fresh migrated SQLite file with one tenant, and replyd on it in a uvicorn thread."""
    database_url = f"sqlite:///{work / f'{config.name}.db'}"
    upgrade_database(database_url)
    tenant = seed(database_url, config)
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        openai_base_url=stub_url,
        openai_api_key="x",
        rate_limit="1000000/minute",
        model_retries=0,
        model_timeout_s=REQUEST_TIMEOUT_S,
        model_deadline_s=REQUEST_TIMEOUT_S,
    )
    app = create_app(settings, preload_model=config.model.startswith("local:"))
    with serve_in_thread(app) as url, httpx.Client(base_url=url, timeout=REQUEST_TIMEOUT_S) as client:
        yield Replyd(app, client, tenant, database_url)


# ---------------------------------------------------------------- (a) the stub model


@dataclass(frozen=True)
class StubTurn:
    prompt_tokens: int
    """Of the reply's request, as the stub counted them."""
    cached_tokens: int
    billed_prompt_tokens: int
    """As replyd stored them: the reply's prompt plus, on a cut, the summary's."""
    billed_cached_tokens: int
    latency_s: float
    is_cut: bool
    budget_tokens: int
    """The reply's prompt as replyd counts it against the budget (its estimate, message overheads included)."""


def replay_on_stub(work: Path, turns: int, budget: int) -> list[StubTurn]:
    stub = CachingStub(rule=stub_rule)
    config = AssistantConfig(
        name="stub", model="openai:stub-model", system_prompt=SYSTEM_PROMPT, context_budget_tokens=budget
    )
    latencies, replies, prompts = [], [], []
    with serve_in_thread(stub.app()) as stub_url, running_replyd(work, stub_url + "/v1", config) as replyd:
        for n in range(turns):
            first_request = len(stub.requests)
            started = time.perf_counter()
            conversation_id = replyd.reply(customer_message(0, n), "long")
            latencies.append(time.perf_counter() - started)
            reply_request = next(i for i in range(first_request, len(stub.requests)) if not stub.usages[i][0])
            replies.append(stub.usages[reply_request])
            prompts.append(stub.requests[reply_request]["messages"])
            if n % 100 == 99:
                print(f"  stub: {n + 1} turns", file=sys.stderr)
        billed = replyd.stored_replies(conversation_id)
    return [
        StubTurn(prompt, cached, billed_prompt, billed_cached, latency, is_cut, replyd_count(messages))
        for (_, prompt, cached), (billed_prompt, billed_cached), latency, is_cut, messages in zip(
            replies, billed, latencies, prefix_changes(prompts), prompts, strict=True
        )
    ]


def prefix_changes(prompts: list[list[dict[str, Any]]]) -> list[bool]:
    """Per turn: whether its prompt no longer starts with the previous turn's prompt (a cut)."""
    return [n > 0 and prompt[: len(prompts[n - 1]) - 1] != prompts[n - 1][:-1] for n, prompt in enumerate(prompts)]


def replyd_count(messages: list[dict[str, Any]]) -> int:
    return prompt_tokens([ChatMessage(m["role"], m.get("content") or "") for m in messages], ESTIMATE)
