"""Long conversations (issue 7): does turn 1,000 cost what turn 50 costs, and does the embedded
model reuse its state across turns?

Three parts, all in this process, on loopback:

* ``stub``: a 1,000-turn conversation through replyd (``create_app`` in a uvicorn thread, a fresh
  SQLite file) against the stub model of ``tests/servers.py``, extended here with a provider-style
  prompt cache: it reports as ``cached_tokens`` the prefix (characters / 4) that a request shares
  with the previous request of the same ``prompt_cache_key``. Per turn: prompt tokens, cached
  tokens, billed tokens and latency.
* ``local``: the same kind of conversation on the embedded model (``local:smollm2``), fewer turns
  (a 2-core machine evaluates a few hundred tokens a second); rolling summaries are written by
  the stub (the issue's "configured cheaper" summary model), so only replies run on llama.cpp.
  Per turn: prompt tokens, tokens evaluated anew, time to first token and latency.
* ``reuse``: the issue's state-reuse targets. A ~2,400-token chat history cold and warm
  (one new turn on top), raw llama-cpp-python against replyd's ``LocalProvider``, interleaved;
  then 8 conversations taking turns round robin on one ``LocalProvider``.

The machine is shared and noisy, so variants are compared as ratios measured in the same run.

Run from the repository root:  .venv/bin/python -m bench.long_context
(``--only stub`` for one part; ``--no-write`` to print without writing docs/).
"""

import argparse
import asyncio
import gc
import hashlib
import math
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bench.processes import cpu_model, memory_gib
from replyd.app import create_app
from replyd.engine.assistant_config import AssistantConfig
from replyd.engine.context import message_tokens
from replyd.engine.summary import INSTRUCTIONS
from replyd.providers import local
from replyd.providers.base import CHARS_PER_TOKEN, ChatMessage, Options, estimate_tokens
from replyd.providers.local import LocalProvider, packaged_model_path
from replyd.settings import Settings
from replyd.store import accounts, conversations
from replyd.store.assistants import create_assistant
from replyd.store.migrate import upgrade_database
from replyd.store.session import create_engine, session_factory
from tests.servers import Scripted, StubModel, completion, serve_in_thread

REPO = Path(__file__).resolve().parents[1]
DOCS = REPO / "docs"
SECTION = "## Long conversations (issue 7)"
FINDINGS = "### Findings"
"""A subsection written by hand after a run; a new run keeps it."""
SUMMARY_MARK = INSTRUCTIONS.split(".")[0]
SYSTEM_PROMPT = "You are the assistant of Bob's Bikes, a bicycle shop in Leeds. Answer briefly and politely."
REQUEST_TIMEOUT_S = 900.0
"""A cold 2,400-token prompt takes minutes on a busy 2-core machine."""

PRODUCTS = ("city bike", "rear light", "chain", "helmet", "cargo trailer", "saddle", "pump", "e-bike battery")
ISSUES = ("squeaks", "arrived late", "is the wrong size", "rattles on cobbles", "will not charge", "feels loose")
TARGET_WARM_SPEEDUP = 10.0
TARGET_RAW_RATIO = 1.2


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


# ---------------------------------------------------------------- instrumenting llama.cpp


@dataclass
class TurnTimes:
    """What one completion on a ``Llama`` cost, from the probe's wrappers."""

    started: float
    prompt_tokens: int = 0
    new_tokens: int = 0
    """Prompt tokens evaluated anew (the rest came from the KV cache or a restored state)."""
    prompt_eval_s: float = 0.0
    first_token_s: float = math.nan
    """From ``started`` to the first sampled token."""
    save_s: float = 0.0
    load_s: float = 0.0
    loads: int = 0
    evals: int = 0
    total_s: float = math.nan
    """The whole call, as its caller saw it."""
    messages: list[dict[str, Any]] = field(default_factory=list)
    """The chat the model was given."""


class LlamaProbe:
    """Times a ``Llama``'s steps by wrapping its methods on the instance: the first ``eval`` of a
    completion is the prompt's new part, the first ``sample`` its first token. replyd's
    ``save_state``/``restore_state`` (module functions of ``replyd.providers.local``, which
    ``LocalProvider`` looks up at each call) are wrapped too, passing other models' calls on."""

    def __init__(self, llama: Any) -> None:
        self.llama = llama
        self.turn = TurnTimes(time.perf_counter())
        for name, hook in (
            ("eval", self._on_eval),
            ("sample", self._on_sample),
            ("create_chat_completion", self._on_completion),
        ):
            original = getattr(llama, name)
            setattr(llama, name, partial(hook, original))
        for name, hook in (("save_state", self._on_save), ("restore_state", self._on_load)):
            setattr(local, name, partial(hook, getattr(local, name)))

    def start(self) -> TurnTimes:
        self.turn = TurnTimes(time.perf_counter())
        return self.turn

    def _on_eval(self, original: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        result = original(*args, **kwargs)
        if self.turn.evals == 0:
            self.turn.new_tokens = len(args[0])
            self.turn.prompt_eval_s = time.perf_counter() - started
        self.turn.evals += 1
        return result

    def _on_sample(self, original: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if math.isnan(self.turn.first_token_s):
            self.turn.first_token_s = time.perf_counter() - self.turn.started
        return original(*args, **kwargs)

    def _on_save(self, original: Callable[..., Any], llama: Any, *args: Any) -> Any:
        started = time.perf_counter()
        result = original(llama, *args)
        if llama is self.llama:
            self.turn.save_s += time.perf_counter() - started
        return result

    def _on_load(self, original: Callable[..., Any], llama: Any, *args: Any) -> Any:
        started = time.perf_counter()
        result = original(llama, *args)
        if llama is self.llama:
            self.turn.load_s += time.perf_counter() - started
            self.turn.loads += 1
        return result

    def _on_completion(self, original: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        self.turn.messages = kwargs["messages"]
        result = original(*args, **kwargs)
        self.turn.prompt_tokens = result["usage"]["prompt_tokens"]
        return result


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
    return sum(message_tokens(ChatMessage(m["role"], m.get("content") or ""), estimate_tokens) for m in messages)


# ---------------------------------------------------------------- (b) the embedded model


@dataclass(frozen=True)
class LocalTurn:
    times: TurnTimes
    latency_s: float
    is_cut: bool
    """The prompt no longer starts with the previous turn's."""
    has_summary: bool
    """A summary was written (by the stub) during the turn."""


def replay_on_local(work: Path, turns: int, budget: int, reply_tokens: int) -> list[LocalTurn]:
    stub = CachingStub(rule=stub_rule)
    config = AssistantConfig(
        name="local",
        model="local:smollm2",
        summary_model="openai:stub-model",
        system_prompt=SYSTEM_PROMPT,
        context_budget_tokens=budget,
        max_reply_tokens=reply_tokens,
        temperature=0,
    )
    measured: list[tuple[TurnTimes, float, bool]] = []
    with serve_in_thread(stub.app()) as stub_url, running_replyd(work, stub_url + "/v1", config) as replyd:
        probe = LlamaProbe(replyd.app.state.replyd.providers.local._llama)
        for n in range(turns):
            summaries = len(stub.requests)
            times = probe.start()
            replyd.reply(customer_message(0, n), "long-local")
            measured.append((times, time.perf_counter() - times.started, len(stub.requests) > summaries))
            if n % 10 == 9:
                print(f"  local: {n + 1} turns, last {measured[-1][1]:.2f} s", file=sys.stderr)
    cuts = prefix_changes([times.messages for times, _, _ in measured])
    return [
        LocalTurn(times, latency, is_cut, has_summary)
        for (times, latency, has_summary), is_cut in zip(measured, cuts, strict=True)
    ]


# ---------------------------------------------------------------- (c) state reuse


def render(message: dict[str, str]) -> str:
    """SmolLM2's chat template for one message."""
    return f"<|im_start|>{message['role']}\n{message['content']}<|im_end|>\n"


def chat_history(conversation: int, target_tokens: int, count_tokens: Callable[[str], int]) -> list[dict[str, str]]:
    """A conversation whose prompt (template included) just reaches ``target_tokens``, ending
    with the customer's message."""
    messages = [{"role": "system", "content": SYSTEM_PROMPT}]
    total, n = count_tokens(render(messages[0])) + 3, 0  # 3: the assistant header it ends with
    while True:
        user = {"role": "user", "content": customer_message(conversation, n)}
        total += count_tokens(render(user))
        messages.append(user)
        if total >= target_tokens:
            return messages
        answer = {"role": "assistant", "content": stub_reply_text({"messages": [user]})}
        total += count_tokens(render(answer))
        messages.append(answer)
        n += 1


def next_turn(messages: list[dict[str, str]], conversation: int, n: int) -> list[dict[str, str]]:
    answer = {"role": "assistant", "content": stub_reply_text({"messages": messages[-1:]})}
    return [*messages, answer, {"role": "user", "content": customer_message(conversation, 1000 + n)}]


@dataclass
class Reuse:
    """Part (c): every turn timed, by variant."""

    history_tokens: int = 0
    raw_cold: list[TurnTimes] = field(default_factory=list)
    raw_warm: list[TurnTimes] = field(default_factory=list)
    one_cold: list[TurnTimes] = field(default_factory=list)
    one_warm: list[TurnTimes] = field(default_factory=list)
    many_cold: list[TurnTimes] = field(default_factory=list)
    many_warm: list[TurnTimes] = field(default_factory=list)
    conversations: int = 0
    cache_bytes: int = 0
    held: tuple[int, int] = (0, 0)
    """Saved states after the round robin: how many, and their bytes."""
    rss_bytes: tuple[int, int] = (0, 0)
    """This process's resident memory after the round robin, and its peak."""


def provider_turn(provider: LocalProvider, messages: list[dict[str, str]], key: str) -> None:
    chat = [ChatMessage(m["role"], m["content"]) for m in messages]  # type: ignore[arg-type]
    asyncio.run(provider.complete("smollm2", chat, Options(temperature=0, max_tokens=1, cache_key=key)))


def raw_turn(llama: Any, messages: list[dict[str, str]]) -> None:
    """In a worker thread of a fresh event loop, as ``LocalProvider.complete`` runs llama.cpp, so
    that the two differ only in what replyd adds."""
    call = partial(llama.create_chat_completion, messages=messages, max_tokens=1, temperature=0)
    asyncio.run(asyncio.to_thread(call))


def timed(probe: LlamaProbe, run: Callable[[], None]) -> TurnTimes:
    times = probe.start()
    run()
    times.total_s = time.perf_counter() - times.started
    return times


def measure_reuse(
    history_tokens: int, warm_turns: int, conversations: int, rounds: int, cache_bytes: int, threads: int | None
) -> Reuse:
    result = Reuse(conversations=conversations, cache_bytes=cache_bytes)
    one_conversation(result, history_tokens, warm_turns, threads)
    gc.collect()  # the first part's two models go before the next one loads
    many_conversations(result, history_tokens, rounds, threads)
    return result


def one_conversation(result: Reuse, history_tokens: int, warm_turns: int, threads: int | None) -> None:
    """Raw llama-cpp-python and replyd's provider, turn by turn on the same history; their order
    alternates, so that drift in the machine's load hits both."""
    from llama_cpp import Llama

    raw = Llama(model_path=str(packaged_model_path()), n_ctx=4096, n_threads=threads, verbose=False)
    one = loaded_provider(result.cache_bytes, threads)
    raw_probe, one_probe = LlamaProbe(raw), LlamaProbe(one._llama)
    history = chat_history(0, history_tokens, count_with(one))
    for n in range(-1, warm_turns):
        if n >= 0:
            history = next_turn(history, 0, n)
        raw_times, one_times = (result.raw_cold, result.one_cold) if n < 0 else (result.raw_warm, result.one_warm)
        variants = [
            (raw_times, raw_probe, partial(raw_turn, raw, history)),
            (one_times, one_probe, partial(provider_turn, one, history, "one")),
        ]
        for times, probe, run in variants if n % 2 else reversed(variants):
            times.append(timed(probe, run))
        print(
            f"  reuse, one conversation, turn {n + 1}: raw {raw_times[-1].total_s:.2f} s, "
            f"replyd {one_times[-1].total_s:.2f} s",
            file=sys.stderr,
        )
    result.history_tokens = result.raw_cold[0].prompt_tokens


def many_conversations(result: Reuse, history_tokens: int, rounds: int, threads: int | None) -> None:
    """Different histories of the same size taking turns round robin on one provider."""
    many = loaded_provider(result.cache_bytes, threads)
    probe = LlamaProbe(many._llama)
    histories = [chat_history(c, history_tokens, count_with(many)) for c in range(result.conversations)]
    for n in range(-1, rounds):
        for c in range(result.conversations):
            if n >= 0:
                histories[c] = next_turn(histories[c], c, n)
            times = timed(probe, partial(provider_turn, many, histories[c], f"conversation-{c}"))
            (result.many_cold if n < 0 else result.many_warm).append(times)
            print(
                f"  reuse, {result.conversations} conversations, round {n + 1}, conversation {c}: "
                f"{times.total_s:.2f} s, {times.new_tokens} new tokens",
                file=sys.stderr,
            )
    result.held = held_states(many)
    result.rss_bytes = (proc_status_bytes("VmRSS"), proc_status_bytes("VmHWM"))


def loaded_provider(cache_bytes: int, threads: int | None) -> LocalProvider:
    provider = LocalProvider(None, 4096, threads, REQUEST_TIMEOUT_S, cache_bytes)
    provider.load()
    return provider


def count_with(provider: LocalProvider) -> Callable[[str], int]:
    llama = provider._llama
    assert llama is not None
    return lambda text: len(llama.tokenize(text.encode(), add_bos=False, special=True))


def held_states(provider: LocalProvider) -> tuple[int, int]:
    """How many states the provider keeps, and their bytes (read from replyd's internals)."""
    states = provider._states
    return (len(states._states), states.size_bytes) if states else (0, 0)


def proc_status_bytes(field_name: str) -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1]) * 1024
    return 0


# ---------------------------------------------------------------- analysis


def median(values: list[float]) -> float:
    return statistics.median(values) if values else math.nan


def mean(values: list[float]) -> float:
    return statistics.fmean(values) if values else math.nan


def blocks(count: int, size: int) -> list[range]:
    return [range(start, min(start + size, count)) for start in range(0, count, size)]


def is_flat(
    prompt_tokens: list[int], cuts: list[bool], budget: int, budget_counted: list[int], counter: str
) -> tuple[bool, str]:
    """Flat: once the budget is first reached (the first cut), the last 100 turns send on average
    within 10% of what the 100 turns after that cut sent, and at most 10% more at their largest.
    ``budget_counted`` is each prompt as ``counter`` counts it, to hold against the budget."""
    if True not in cuts:
        return False, "the budget was never reached"
    first = cuts.index(True)
    early, late = prompt_tokens[first : first + 100], prompt_tokens[-100:]
    is_met = abs(mean(late) - mean(early)) <= 0.1 * mean(early) and max(late) <= 1.1 * max(early)
    return is_met, (
        f"First cut at turn {first + 1}. Prompt tokens: mean {mean(early):.0f} (max {max(early)}) over the 100 "
        f"turns after it, mean {mean(late):.0f} (max {max(late)}) over the last 100. Largest prompt "
        f"{max(budget_counted)} tokens as {counter}, budget {budget}"
    )


def cut_spacing(cuts: list[bool]) -> str:
    at = [n for n, is_cut in enumerate(cuts) if is_cut]
    gaps = [b - a for a, b in zip(at, at[1:], strict=False)]
    if not gaps:
        return f"{len(at)} cut(s)"
    return f"{len(at)} cuts, {min(gaps)} to {max(gaps)} turns apart (median {median(gaps):.0f})"


def stub_table(turns: list[StubTurn]) -> str:
    lines = [
        "| turns | prompt tokens (mean / max) | cached tokens (mean) | cached share "
        "| billed prompt tokens (mean) | billed uncached (mean) | cuts | latency p50 / max ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for span in blocks(len(turns), 100):
        rows = [turns[n] for n in span]
        prompt = [r.prompt_tokens for r in rows]
        cached = [r.cached_tokens for r in rows]
        latency = [r.latency_s * 1000 for r in rows]
        lines.append(
            f"| {span.start + 1}-{span.stop} | {mean(prompt):.0f} / {max(prompt)} | {mean(cached):.0f} "
            f"| {sum(cached) / sum(prompt):.0%} | {mean([r.billed_prompt_tokens for r in rows]):.0f} "
            f"| {mean([r.billed_prompt_tokens - r.billed_cached_tokens for r in rows]):.0f} "
            f"| {sum(r.is_cut for r in rows)} | {median(latency):.0f} / {max(latency):.0f} |"
        )
    return "\n".join(lines)


def local_table(turns: list[LocalTurn], size: int) -> str:
    lines = [
        "| turns | prompt tokens (mean / max) | evaluated anew (median) | reused from KV cache "
        "| time to first token p50 s | latency p50 / max s | cuts |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for span in blocks(len(turns), size):
        rows = [turns[n] for n in span]
        latency = [r.latency_s for r in rows]
        prompt = [r.times.prompt_tokens for r in rows]
        new = [r.times.new_tokens for r in rows]
        lines.append(
            f"| {span.start + 1}-{span.stop} | {mean(prompt):.0f} / {max(prompt)} | {median(new):.0f} "
            f"| {1 - sum(new) / sum(prompt):.0%} | {median([r.times.first_token_s for r in rows]):.2f} "
            f"| {median(latency):.2f} / {max(latency):.1f} | {sum(r.is_cut for r in rows)} |"
        )
    return "\n".join(lines)


def proportionality(turns: list[LocalTurn]) -> str:
    """Time to first token against the tokens evaluated anew, for turns that only append and
    turns that cut (medians: single turns of a busy machine can take many times longer)."""

    def line(name: str, group: list[LocalTurn]) -> str:
        new = median([t.times.new_tokens for t in group])
        ttft = median([t.times.first_token_s for t in group])
        per_token = median([t.times.prompt_eval_s / t.times.new_tokens * 1000 for t in group if t.times.new_tokens])
        prompt = median([t.times.prompt_tokens for t in group])
        return (
            f"{name} ({len(group)}): median {new:.0f} new tokens of {prompt:.0f}, "
            f"time to first token {ttft:.2f} s, prompt evaluation {per_token:.1f} ms per new token"
        )

    appending = [t for t in turns[1:] if not t.is_cut]
    cutting = [t for t in turns if t.is_cut]
    return "; ".join(
        line(name, group) for name, group in (("turns that append", appending), ("turns that cut", cutting)) if group
    )


def reuse_rows(reuse: Reuse) -> list[tuple[str, list[TurnTimes]]]:
    n = reuse.conversations
    return [
        ("raw llama-cpp-python, cold", reuse.raw_cold),
        ("raw llama-cpp-python, warm", reuse.raw_warm),
        ("replyd LocalProvider, 1 conversation, cold", reuse.one_cold),
        ("replyd LocalProvider, 1 conversation, warm", reuse.one_warm),
        (f"replyd LocalProvider, {n} conversations round robin, cold", reuse.many_cold),
        (f"replyd LocalProvider, {n} conversations round robin, warm", reuse.many_warm),
    ]


def reuse_table(reuse: Reuse) -> str:
    lines = [
        "| variant | turns | prompt tokens | evaluated anew | total s (median) | prompt eval s "
        "| state restores | restore ms | state save ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, times in reuse_rows(reuse):
        lines.append(
            f"| {name} | {len(times)} | {median([t.prompt_tokens for t in times]):.0f} "
            f"| {median([t.new_tokens for t in times]):.0f} | {median([t.total_s for t in times]):.2f} "
            f"| {median([t.prompt_eval_s for t in times]):.2f} | {sum(t.loads for t in times)} "
            f"| {median([t.load_s * 1000 for t in times]):.0f} | {median([t.save_s * 1000 for t in times]):.0f} |"
        )
    return "\n".join(lines)


@dataclass(frozen=True)
class Verdict:
    target: str
    is_met: bool
    detail: str

    def line(self) -> str:
        return f"- **{self.target}**: {'met' if self.is_met else 'NOT met'}. {self.detail}"


def reuse_verdicts(reuse: Reuse) -> list[Verdict]:
    def total(times: list[TurnTimes]) -> float:
        return median([t.total_s for t in times])

    raw_ratio = total(reuse.raw_cold) / total(reuse.raw_warm)
    speedup = total(reuse.many_cold) / total(reuse.many_warm)
    to_raw = total(reuse.one_warm) / total(reuse.raw_warm)
    paired = median([one.total_s / raw.total_s for one, raw in zip(reuse.one_warm, reuse.raw_warm, strict=True)])
    states, held_bytes = reuse.held
    return [
        Verdict(
            f"warm turn >= {TARGET_WARM_SPEEDUP:.0f}x faster than cold while {reuse.conversations} conversations "
            "take turns",
            speedup >= TARGET_WARM_SPEEDUP,
            f"cold {total(reuse.many_cold):.2f} s / warm {total(reuse.many_warm):.2f} s = {speedup:.1f}x "
            f"(raw llama-cpp-python, one conversation: {raw_ratio:.1f}x; the issue quotes 7.7 s / 0.2 s = 38x). "
            f"Memory: {states} saved states after the round robin (the live conversation's is in the model), "
            f"{held_bytes / 2**20:.0f} MiB of local_cache_bytes = {reuse.cache_bytes / 2**20:.0f} MiB; "
            f"process RSS {reuse.rss_bytes[0] / 2**30:.2f} GiB, peak {reuse.rss_bytes[1] / 2**30:.2f} GiB "
            "(both models of the first part included).",
        ),
        Verdict(
            f"warm turn within {TARGET_RAW_RATIO}x of raw llama.cpp's, one conversation",
            to_raw <= TARGET_RAW_RATIO,
            f"replyd {total(reuse.one_warm):.2f} s / raw {total(reuse.raw_warm):.2f} s = {to_raw:.2f}x "
            f"(median of the per-turn ratios: {paired:.2f}x).",
        ),
    ]


# ---------------------------------------------------------------- output


def plot_stub(turns: list[StubTurn], budget: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = range(1, len(turns) + 1)
    fig, (tokens, latency) = plt.subplots(2, 1, figsize=(11, 7), sharex=True, height_ratios=(2, 1))
    tokens.fill_between(
        x, [t.cached_tokens for t in turns], color="tab:orange", alpha=0.4, lw=0, label="cached tokens (reported)"
    )
    tokens.plot(x, [t.prompt_tokens for t in turns], color="tab:blue", lw=1, label="prompt tokens (reply request)")
    uncached = [t.billed_prompt_tokens - t.billed_cached_tokens for t in turns]
    tokens.plot(x, uncached, color="tab:green", lw=0.7, label="billed uncached tokens (summary included)")
    tokens.axhline(budget, color="grey", ls="--", lw=0.8, label=f"context budget ({budget}, replyd's count)")
    tokens.set_ylabel("tokens")
    tokens.legend(loc="upper right", fontsize=8)
    tokens.set_title(f"{len(turns)}-turn conversation through replyd against the stub model")
    latency.plot(x, [t.latency_s * 1000 for t in turns], ".", ms=2, label="latency per turn")
    for n, turn in enumerate(turns, start=1):
        if turn.is_cut:
            latency.axvline(n, color="red", lw=0.3, alpha=0.5)
    latency.set_ylabel("ms (red: cut + summary)")
    latency.set_xlabel("turn")
    latency.set_yscale("log")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_local(turns: list[LocalTurn], budget: int, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = range(1, len(turns) + 1)
    fig = plt.figure(figsize=(11, 8))
    tokens = fig.add_subplot(2, 2, (1, 2))
    times = fig.add_subplot(2, 2, 3)
    scatter = fig.add_subplot(2, 2, 4)
    reused = [t.times.prompt_tokens - t.times.new_tokens for t in turns]
    tokens.fill_between(x, reused, color="tab:orange", alpha=0.4, lw=0, label="reused from the KV cache")
    tokens.plot(x, [t.times.prompt_tokens for t in turns], color="tab:blue", lw=1, label="prompt tokens")
    tokens.plot(x, [t.times.new_tokens for t in turns], color="tab:green", lw=0.7, label="evaluated anew")
    tokens.axhline(budget, color="grey", ls="--", lw=0.8, label=f"context budget ({budget})")
    tokens.set_ylabel("tokens")
    tokens.set_xlabel("turn")
    tokens.legend(loc="upper right", fontsize=8)
    tokens.set_title(f"{len(turns)} turns on the embedded model (SmolLM2-135M, llama.cpp) through replyd")
    times.plot(x, [t.latency_s for t in turns], ".", ms=3, label="latency")
    times.plot(x, [t.times.first_token_s for t in turns], ".", ms=3, label="time to first token")
    times.set_yscale("log")
    times.set_xlabel("turn")
    times.set_ylabel("s")
    times.legend(fontsize=8)
    scatter.plot([t.times.new_tokens for t in turns], [t.times.first_token_s for t in turns], ".", ms=4)
    scatter.set_xlabel("prompt tokens evaluated anew")
    scatter.set_ylabel("time to first token, s")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


@dataclass
class Results:
    args: argparse.Namespace
    started: float
    load: tuple[tuple[float, float, float], tuple[float, float, float]] = ((0, 0, 0), (0, 0, 0))
    stub: list[StubTurn] | None = None
    local: list[LocalTurn] | None = None
    reuse: Reuse | None = None


def machine() -> str:
    from llama_cpp import __version__ as llama_cpp_version

    return (
        f"{date.today()}, {os.cpu_count()} cores ({cpu_model()}), {memory_gib()} RAM, Linux "
        f"{platform.release()}, Python {platform.python_version()}, llama-cpp-python {llama_cpp_version}"
    )


def section(results: Results, command: str, images: dict[str, str]) -> str:
    args = results.args
    (start_load, end_load) = results.load
    out = [
        SECTION,
        "",
        f"Command: `{command}` ({(time.perf_counter() - results.started) / 60:.0f} minutes).",
        "",
        f"Machine: {machine()}. Load average (1/5/15 min) {fmt_load(start_load)} at the start, "
        f"{fmt_load(end_load)} at the end: other jobs shared the 2 cores, so absolute times are noisy; "
        "variants are compared as ratios measured in the same run (raw and replyd turns interleaved), and as "
        "medians: a single turn sometimes takes 5-20x its usual time for the same tokens (llama.cpp's two prompt "
        "threads spin at barriers while another job holds a core).",
        "",
    ]
    verdicts: list[Verdict] = []
    if results.stub is not None:
        turns = results.stub
        is_met, detail = is_flat(
            [t.prompt_tokens for t in turns],
            [t.is_cut for t in turns],
            args.budget,
            [t.budget_tokens for t in turns],
            "replyd counts it (4 characters a token, 4 tokens a message)",
        )
        verdicts.append(Verdict("prompt tokens flat after the budget is first reached (stub model)", is_met, detail))
        out += [
            f"### {len(turns)} turns against the stub model",
            "",
            f"Context budget {args.budget} tokens. The stub counts a prompt as its characters / 4 and reports as "
            "cached the prefix shared with the conversation's previous request; billed tokens are "
            "`messages.prompt_tokens` / `cached_tokens` as replyd stored them (a cut turn also pays for its summary). "
            f"{cut_spacing([t.is_cut for t in turns])}.",
            "",
            stub_table(turns),
            "",
            f"![prompt, cached and billed tokens and latency per turn, stub model]({images['stub']})",
            "",
        ]
    if results.local is not None:
        turns_local = results.local
        prompt = [t.times.prompt_tokens for t in turns_local]
        is_met, detail = is_flat(
            prompt,
            [t.is_cut for t in turns_local],
            args.local_budget,
            prompt,
            "llama.cpp counts it (template included)",
        )
        verdicts.append(
            Verdict("prompt tokens flat after the budget is first reached (embedded model)", is_met, detail)
        )
        out += [
            f"### {len(turns_local)} turns on the embedded model",
            "",
            f"`local:smollm2`, context budget {args.local_budget} tokens, replies of at most {args.reply_tokens} "
            f"tokens, temperature 0; summaries written by the stub (`summary_model`), so that only replies run on "
            "llama.cpp. "
            "Time to first token is measured in-process from sending the request to llama.cpp sampling the first "
            f"token. {cut_spacing([t.is_cut for t in turns_local])}; "
            f"{sum(t.has_summary for t in turns_local)} summaries written.",
            "",
            local_table(turns_local, 25),
            "",
            proportionality(turns_local) + ".",
            "",
            f"![prompt tokens, reused tokens, time to first token per turn, embedded model]({images['local']})",
            "",
        ]
    if results.reuse is not None:
        reuse = results.reuse
        verdicts += reuse_verdicts(reuse)
        out += [
            "### Embedded model state reuse",
            "",
            f"A {reuse.history_tokens}-token chat history (SmolLM2's template included), then {len(reuse.raw_warm)} "
            "new turns on top (one reply and one customer message each), `max_tokens=1` so that the time is "
            "prompt processing. Raw: `Llama(model_path, n_ctx=4096)` and `create_chat_completion` on the "
            f"history. replyd: `LocalProvider.complete` with local_cache_bytes = {reuse.cache_bytes / 2**20:.0f} MiB. "
            f"Then {reuse.conversations} different histories of the same size on one LocalProvider, taking turns "
            f"round robin ({len(reuse.many_warm) // max(reuse.conversations, 1)} warm rounds after the cold one). "
            "Both use llama.cpp's default thread count (half the cores).",
            "",
            reuse_table(reuse),
            "",
        ]
    out += ["### Targets", "", *(v.line() for v in verdicts), ""]
    return "\n".join(out)


def fmt_load(load: tuple[float, float, float]) -> str:
    return "/".join(f"{value:.1f}" for value in load)


def write_section(text: str, path: Path) -> None:
    """Replace this benchmark's section of ``path`` (or append it), leaving the others alone, and
    keeping the section's hand-written ``FINDINGS`` subsection, if any, at its end."""
    if not path.exists():
        path.write_text("# Performance\n\nNumbers with the hardware they were measured on.\n\n" + text)
        return
    current = path.read_text()
    start = current.find(SECTION)
    if start < 0:
        path.write_text(current.rstrip("\n") + "\n\n" + text)
        return
    end = current.find("\n## ", start + len(SECTION))
    old = current[start:] if end < 0 else current[start:end]
    findings = old[old.find(FINDINGS) :].strip("\n") if FINDINGS in old else ""
    text = text.rstrip("\n") + ("\n\n" + findings if findings else "") + "\n"
    path.write_text(current[:start] + text + (current[end:] if end >= 0 else ""))


# ---------------------------------------------------------------- command line


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.long_context", description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", choices=("stub", "local", "reuse"), action="append", help="run only this part")
    parser.add_argument("--turns", type=int, default=1000, help="turns against the stub model")
    parser.add_argument("--budget", type=int, default=2000, help="context budget against the stub model")
    parser.add_argument("--local-turns", type=int, default=1000, help="turns on the embedded model")
    parser.add_argument("--local-budget", type=int, default=2000, help="context budget on the embedded model")
    parser.add_argument("--reply-tokens", type=int, default=24, help="max_reply_tokens on the embedded model")
    parser.add_argument("--history-tokens", type=int, default=2400, help="history size of the reuse part")
    parser.add_argument("--warm-turns", type=int, default=15, help="warm turns per variant, one conversation")
    parser.add_argument("--conversations", type=int, default=8, help="conversations taking turns")
    parser.add_argument("--rounds", type=int, default=3, help="warm rounds of the conversations")
    parser.add_argument(
        "--cache-bytes",
        type=int,
        default=Settings.model_fields["local_cache_bytes"].default,
        help="LocalProvider's state cache (replyd's default)",
    )
    parser.add_argument("--threads", type=int, default=None, help="llama.cpp threads (default: llama.cpp's)")
    parser.add_argument("--no-write", action="store_true", help="print only; leave docs/ alone")
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    parts = args.only or ["stub", "local", "reuse"]
    results = Results(args, time.perf_counter())
    start_load = os.getloadavg()
    work = Path(tempfile.mkdtemp(prefix="replyd-long-context-"))
    try:
        if "stub" in parts:
            print(f"(a) {args.turns} turns against the stub model ...", file=sys.stderr)
            results.stub = replay_on_stub(work, args.turns, args.budget)
        if "local" in parts:
            print(f"(b) {args.local_turns} turns on the embedded model ...", file=sys.stderr)
            results.local = replay_on_local(work, args.local_turns, args.local_budget, args.reply_tokens)
        if "reuse" in parts:
            print("(c) state reuse ...", file=sys.stderr)
            results.reuse = measure_reuse(
                args.history_tokens, args.warm_turns, args.conversations, args.rounds, args.cache_bytes, args.threads
            )
    finally:
        shutil.rmtree(work)
    results.load = (start_load, os.getloadavg())
    command = ".venv/bin/python -m bench.long_context" + "".join(f" {a}" for a in sys.argv[1:])
    images = {"stub": "long_context.png", "local": "long_context_local.png"}
    text = section(results, command, images)
    print("\n" + text)
    if args.no_write:
        return
    if results.stub is not None:
        plot_stub(results.stub, args.budget, DOCS / images["stub"])
    if results.local is not None:
        plot_local(results.local, args.local_budget, DOCS / images["local"])
    write_section(text, DOCS / "performance.md")
    print(f"\nwrote docs/performance.md and {', '.join(images.values())}", file=sys.stderr)


if __name__ == "__main__":
    main()
