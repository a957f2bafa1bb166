"""The legs of a run: the same load sent to the stub model alone, through LiteLLM's proxy and
through replyd, one after another, each measured on its own."""

import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

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
    """Leg name -> what it measured under ``load``."""

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


async def measure(legs: list[Leg], loads: list[Load], think_s: float) -> list[Row]:
    rows = []
    for load in loads:
        stats = {}
        for leg in legs:
            print(f"  {load.name}: {load.requests} requests to {leg.name} ...", file=sys.stderr)
            stats[leg.name] = await drive(leg.url, leg.send, load, leg.pid, think_s, leg.settle)
        rows.append(Row(load, stats))
    return rows
