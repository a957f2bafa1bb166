"""The conversation, the stub model with a provider-style prompt cache, replyd serving in a
thread of this process (with the pause after a turn that lets summaries written ahead finish),
and part (a): a long conversation through replyd against the stub."""

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
from replyd.engine.summary import INSTRUCTIONS
from replyd.functions.signing import new_webhook_secret
from replyd.providers.base import CHARS_PER_TOKEN, ESTIMATE, ChatMessage, Tokenizer, prompt_tokens
from replyd.services.assistant_config import AssistantConfig
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


CUT_KINDS = ("ahead", "inline")
"""How a cut got its summary, as ``replyd_history_cuts_total`` labels it."""
DISCARDED = ("refused", "failed")
"""Outcomes of ``replyd_summaries_ahead_total`` besides ``stored``."""


def metric_samples(text: str) -> dict[str, float]:
    """Prometheus' text format, as ``{'name{labels}': value}``."""
    pairs = (line.rsplit(" ", 1) for line in text.splitlines() if line and not line.startswith("#"))
    return {name: float(value) for name, value in pairs}


def cuts_sample(kind: str) -> str:
    return f'replyd_history_cuts_total{{summary="{kind}"}}'


def ahead_sample(outcome: str) -> str:
    return f'replyd_summaries_ahead_total{{outcome="{outcome}"}}'


@dataclass(frozen=True)
class Exchange:
    """One turn as the customer and replyd's metrics saw it."""

    latency_s: float
    """The reply's HTTP request alone, not the pause after it."""
    cut: str | None
    """``ahead`` or ``inline``: the turn cut the history and applied a summary written ahead, or
    wrote it on its way to the model (``replyd_history_cuts_total``); None: no cut."""
    written_ahead: int
    """Summaries written ahead in the pause after the reply and stored for a coming cut."""
    discarded_ahead: int
    """Summaries written ahead then, refused (their mark had moved) or failed."""
    pause_s: float
    """The pause: until no summary was in flight (at least one ``GET /metrics``)."""


@dataclass
class Replyd:
    """replyd serving in a uvicorn thread of this process, with one tenant."""

    app: Any
    client: httpx.Client
    tenant: Tenant
    database_url: str
    counted: dict[str, float] = field(default_factory=dict)
    """The metrics after the previous turn's pause (none before the first turn: all zero)."""

    def turn(self, message: str, customer: str) -> tuple[str, Exchange]:
        """A reply, then a customer's pause: until no summary is being written ahead, so that
        the next turn finds it done. Returns the conversation's id and what the turn did."""
        started = time.perf_counter()
        conversation_id = self.reply(message, customer)
        latency_s = time.perf_counter() - started
        pause_s = self.settle()
        before, after = self.counted, self.metrics()
        self.counted = after

        def delta(sample: str) -> int:
            return round(after.get(sample, 0.0) - before.get(sample, 0.0))

        cut = next((kind for kind in CUT_KINDS if delta(cuts_sample(kind))), None)
        discarded = sum(delta(ahead_sample(outcome)) for outcome in DISCARDED)
        return conversation_id, Exchange(latency_s, cut, delta(ahead_sample("stored")), discarded, pause_s)

    def metrics(self) -> dict[str, float]:
        return metric_samples(self.client.get("/metrics").text)

    def settle(self) -> float:
        """Wait until the server writes no summary ahead; the seconds waited."""
        started, pause = time.perf_counter(), 0.005
        while self.metrics().get("replyd_summaries_ahead_in_flight", 0.0):
            if time.perf_counter() - started > REQUEST_TIMEOUT_S:
                raise SystemExit("a summary written ahead did not finish")
            time.sleep(pause)
            pause = min(2 * pause, 0.05)
        return time.perf_counter() - started

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
                account = await accounts.create_account(session, "bench", 1_000_000 * 1_000_000, new_webhook_secret())
                token = await accounts.create_token(session, account.id, "1000000/minute")
                assistant = await create_assistant(session, account.id, config.to_columns())
                return Tenant(token.secret, assistant.id)
        finally:
            await engine.dispose()

    return asyncio.run(work())


@contextmanager
def running_replyd(
    work: Path, stub_url: str | None, config: AssistantConfig, summaries_ahead: bool = True
) -> Iterator[Replyd]:
    """A fresh migrated SQLite file (named after the assistant) with one tenant, and replyd on it
    in a uvicorn thread; ``stub_url``: the OpenAI-compatible endpoint of ``openai:`` models."""
    database_url = f"sqlite:///{work / f'{config.name}.db'}"
    upgrade_database(database_url)
    tenant = seed(database_url, config)
    settings = Settings(
        _env_file=None,  # type: ignore[call-arg]
        database_url=database_url,
        openai_base_url=stub_url,
        openai_api_key="x" if stub_url else None,
        rate_limit="1000000/minute",
        model_retries=0,
        model_timeout_s=REQUEST_TIMEOUT_S,
        model_deadline_s=REQUEST_TIMEOUT_S,
        summaries_ahead=summaries_ahead,
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
    """As replyd stored them: the reply's prompt plus, on a cut, the summary's (written ahead or inline)."""
    billed_cached_tokens: int
    served: Exchange
    is_cut: bool
    """The reply's prompt no longer starts with the previous turn's (``served.cut`` is replyd's own count)."""
    budget_tokens: int
    """The reply's prompt as replyd counts it against the budget (its estimate, message overheads included)."""


def replay_on_stub(work: Path, turns: int, budget: int) -> list[StubTurn]:
    """Summaries written ahead (replyd's default), each turn followed by a customer's pause."""
    stub = CachingStub(rule=stub_rule)
    config = AssistantConfig(
        name="stub", model="openai:stub-model", system_prompt=SYSTEM_PROMPT, context_budget_tokens=budget
    )
    served, replies, prompts = [], [], []
    with serve_in_thread(stub.app()) as stub_url, running_replyd(work, stub_url + "/v1", config) as replyd:
        for n in range(turns):
            first_request = len(stub.requests)
            conversation_id, exchange = replyd.turn(customer_message(0, n), "long")
            served.append(exchange)
            reply_request = next(i for i in range(first_request, len(stub.requests)) if not stub.usages[i][0])
            replies.append(stub.usages[reply_request])
            prompts.append(stub.requests[reply_request]["messages"])
            if n % 100 == 99:
                print(f"  stub: {n + 1} turns", file=sys.stderr)
        billed = replyd.stored_replies(conversation_id)
    return [
        StubTurn(prompt, cached, billed_prompt, billed_cached, exchange, is_cut, replyd_count(messages))
        for (_, prompt, cached), (billed_prompt, billed_cached), exchange, is_cut, messages in zip(
            replies, billed, served, prefix_changes(prompts), prompts, strict=True
        )
    ]


def prefix_changes(prompts: list[list[dict[str, Any]]]) -> list[bool]:
    """Per turn: whether its prompt no longer starts with the previous turn's prompt (a cut)."""
    return [n > 0 and prompt[: len(prompts[n - 1]) - 1] != prompts[n - 1][:-1] for n, prompt in enumerate(prompts)]


def replyd_count(messages: list[dict[str, Any]], tokenizer: Tokenizer = ESTIMATE) -> int:
    """A prompt as replyd counts it against the budget (by default its estimate for the stub)."""
    return prompt_tokens([ChatMessage(m["role"], m.get("content") or "") for m in messages], tokenizer)
