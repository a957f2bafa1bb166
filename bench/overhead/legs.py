"""The legs of a run: the same load sent to the stub model alone, through LiteLLM's proxy and
through replyd, one after another, each measured on its own."""

import statistics
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import httpx

from bench.overhead.load import Load, Send, Stats, drive

STUB, LITELLM, REPLYD = "stub alone", "LiteLLM", "replyd"
WITH_ENDPOINT = "replyd, 1 endpoint"
"""replyd again, for an account with one endpoint taking every event type (``--endpoint``)."""
MESSAGE = "Hello, this is message {n}. When do you open tomorrow?"


@dataclass(frozen=True)
class Leg:
    """A server to measure: its name, its base URL, its process (whose CPU time is read, with its
    workers'), and how to send it a customer's message."""

    name: str
    url: str
    pid: int
    send: Send
    settle: Callable[[], Awaitable[None]] | None = None
    """Waits for the server's own work after a load (delivering its events), counted in its CPU."""


@dataclass(frozen=True)
class Row:
    load: Load
    stats: dict[str, Stats]
    """Leg name -> what it measured under ``load`` (the first round)."""
    endpoint_extra_ms: list[float] = field(default_factory=list)
    """Each round's CPU per reply with one endpoint minus without, the two legs run back to back."""

    @property
    def endpoint_extra_median_ms(self) -> float | None:
        return statistics.median(self.endpoint_extra_ms) if self.endpoint_extra_ms else None

    def overhead_ms(self, leg: str) -> tuple[float, float]:
        """(p50, p99) through ``leg`` minus the same percentile of the stub alone."""
        through, alone = self.stats[leg], self.stats[STUB]
        return through.p50_ms - alone.p50_ms, through.p99_ms - alone.p99_ms


def chat_sender(model: str, api_key: str | None = None) -> Send:
    """What replyd sends the model for a fresh conversation, as one chat-completions call: the
    stub alone and LiteLLM get the same request, neither keeps a conversation."""
    headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}

    async def send(client: httpx.AsyncClient, customer: str, n: int) -> int:
        response = await client.post(
            "/chat/completions",
            headers=headers,
            json={
                "model": model,
                "messages": [
                    {"role": "system", "content": "You are a friendly customer service assistant. Answer briefly."},
                    {"role": "user", "content": MESSAGE.format(n=n)},
                ],
                "temperature": 0.7,
                "max_tokens": 256,
            },
        )
        return response.status_code

    return send


def reply_sender(token: str, assistant_id: int) -> Send:
    """A customer's message to replyd, which keeps its conversation and sends the model its history."""

    async def send(client: httpx.AsyncClient, customer: str, n: int) -> int:
        response = await client.post(
            "/api/ai/generate-reply",
            headers={"Authorization": f"Bearer {token}"},
            json={
                "assistant_id": assistant_id,
                "customer_identifier": f"bench-{customer}",
                "message": MESSAGE.format(n=n),
            },
        )
        return response.status_code

    return send


async def measure(legs: list[Leg], loads: list[Load], think_s: float, rounds: int = 1) -> list[Row]:
    """Every leg under every load; with an endpoint leg, replyd without and with it again, back
    to back, until ``rounds`` pairs are measured: the machine's noise shows in their spread."""
    rows = []
    for load in loads:
        stats = {leg.name: await _drive(leg, load, think_s) for leg in legs}
        row = Row(load, stats)
        pair = [leg for leg in legs if leg.name in (REPLYD, WITH_ENDPOINT)]
        if len(pair) == 2:
            row.endpoint_extra_ms.append(_extra(stats[REPLYD], stats[WITH_ENDPOINT]))
            for _ in range(rounds - 1):
                without, with_endpoint = [await _drive(leg, load, think_s) for leg in pair]
                row.endpoint_extra_ms.append(_extra(without, with_endpoint))
        rows.append(row)
    return rows


async def _drive(leg: Leg, load: Load, think_s: float) -> Stats:
    print(f"  {load.name}: {load.requests} requests to {leg.name} ...", file=sys.stderr)
    return await drive(leg.url, leg.send, load, leg.pid, think_s, leg.settle)


def _extra(without: Stats, with_endpoint: Stats) -> float:
    if without.cpu_ms is None or with_endpoint.cpu_ms is None:
        return float("nan")
    return with_endpoint.cpu_ms - without.cpu_ms
