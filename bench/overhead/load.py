"""The load generator: customers sending messages to a server, in a closed or an open loop,
and what came back (replies/s, latency percentiles, the server's CPU per reply)."""

import asyncio
import math
import random
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field

import httpx

from bench.processes import tree_cpu_s

WARMUP_PER_CUSTOMER = 3
"""Unmeasured messages each customer sends first: opens connections, creates its conversation."""
POSITION_BLOCK = 50
"""Latency is also shown per block of this many measured messages of a customer: history grows."""
REQUEST_TIMEOUT_S = 60.0
LOAD_DEADLINE_S = 300.0

Send = Callable[[httpx.AsyncClient, str, int], Awaitable[int]]
"""``send(client, customer, n)``: the ``n``-th message of the customer so identified; returns the status."""


@dataclass(frozen=True)
class Load:
    """``requests`` measured messages from ``customers`` customers, each in its own conversation.

    Closed loop (no ``rate_per_s``): every customer sends its next message as soon as its last
    one is answered. Open loop: messages arrive at ``rate_per_s`` on average (a Poisson process),
    dealt round robin to the customers, whether or not their earlier messages are answered yet;
    replyd answers one conversation's messages in order, so a customer's messages queue there."""

    customers: int
    requests: int
    rate_per_s: float | None = None

    @property
    def name(self) -> str:
        if self.rate_per_s is None:
            return f"closed loop, {self.customers} customers"
        return f"open loop, {self.rate_per_s:g}/s over {self.customers} customers"

    @property
    def tag(self) -> str:
        return f"c{self.customers}" if self.rate_per_s is None else f"r{self.rate_per_s:g}x{self.customers}"


@dataclass(frozen=True)
class Stats:
    requests: int
    failed: dict[str, int]
    """HTTP status or transport error -> how many measured requests ended so instead of 200."""
    per_s: float
    p50_ms: float
    p99_ms: float
    by_position: list[tuple[int, int, float]]
    """(first n, last n, p50 ms) of the successful requests, in blocks of ``POSITION_BLOCK`` messages."""
    cpu_ms: float | None
    """CPU time the server's processes (all threads, all workers) spent per measured request, if /proc tells."""


@dataclass(frozen=True)
class Customer:
    identifier: str
    """Unique to the load and the customer: each load starts fresh conversations."""
    client: httpx.AsyncClient


@dataclass
class Outcomes:
    """The measured requests so far: (position in its conversation, latency s) of each success,
    and what the others ended with."""

    samples: list[tuple[int, float]] = field(default_factory=list)
    failed: Counter[str] = field(default_factory=Counter)

    async def call(self, send: Send, customer: Customer, n: int, since: float) -> None:
        """Send one message; its latency counts from ``since`` (when it was due), not from when it left."""
        try:
            outcome: int | str = await send(customer.client, customer.identifier, n)
        except httpx.TransportError as exc:
            outcome = type(exc).__name__
        if outcome == 200:
            self.samples.append((n - WARMUP_PER_CUSTOMER, time.perf_counter() - since))
        else:
            self.failed[str(outcome)] += 1

    def stats(self, elapsed_s: float, cpu_used_s: float) -> Stats:
        if not self.samples:
            raise SystemExit(f"every request failed: {dict(self.failed)}")
        latencies = sorted(latency for _, latency in self.samples)
        count = len(self.samples) + sum(self.failed.values())
        return Stats(
            count,
            dict(self.failed),
            len(self.samples) / elapsed_s,
            percentile(latencies, 0.5) * 1000,
            percentile(latencies, 0.99) * 1000,
            by_position(self.samples),
            cpu_used_s / count * 1000 if not math.isnan(cpu_used_s) else None,
        )


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest rank: the smallest value with at least ``q`` of the values at or below it."""
    return sorted_values[max(0, math.ceil(q * len(sorted_values)) - 1)]


def by_position(samples: list[tuple[int, float]]) -> list[tuple[int, int, float]]:
    blocks: dict[int, list[float]] = {}
    for n, latency in samples:
        blocks.setdefault(n // POSITION_BLOCK, []).append(latency)
    return [
        (block * POSITION_BLOCK + 1, (block + 1) * POSITION_BLOCK, percentile(sorted(values), 0.5) * 1000)
        for block, values in sorted(blocks.items())
    ]


async def drive(
    base_url: str,
    send: Send,
    load: Load,
    server_pid: int,
    think_s: float = 0.0,
    settle: Callable[[], Awaitable[None]] | None = None,
) -> Stats:
    """Warm every customer up, then measure ``load``, with the CPU time of process ``server_pid``
    and its descendants (a server's worker processes) over the measured part, and until
    ``settle`` returns (the server's own work for the load that outlasts its answers, such as
    delivering events; not counted in replies/s).

    Each customer has its own client and keep-alive connection: one client with a pool of 64
    connections costs httpx milliseconds of CPU per request (encode/httpx#3215), which this
    process would then report as the server's latency."""
    async with AsyncExitStack() as stack:
        customers = [
            Customer(
                f"{load.tag}-{number}",
                await stack.enter_async_context(httpx.AsyncClient(base_url=base_url, timeout=REQUEST_TIMEOUT_S)),
            )
            for number in range(load.customers)
        ]
        warm_up = closed_loop(customers, send, 0, WARMUP_PER_CUSTOMER, Outcomes())
        await asyncio.wait_for(warm_up, LOAD_DEADLINE_S)
        if settle is not None:
            await settle()
        outcomes = Outcomes()
        started, cpu_started = time.perf_counter(), tree_cpu_s(server_pid)
        if load.rate_per_s is None:
            per_customer = load.requests // load.customers
            measured = closed_loop(customers, send, WARMUP_PER_CUSTOMER, per_customer, outcomes, think_s)
        else:
            measured = open_loop(customers, send, load.requests, load.rate_per_s, outcomes)
        await asyncio.wait_for(measured, LOAD_DEADLINE_S)
        elapsed = time.perf_counter() - started
        if settle is not None:
            await asyncio.wait_for(settle(), LOAD_DEADLINE_S)
        cpu_used = tree_cpu_s(server_pid) - cpu_started
    return outcomes.stats(elapsed, cpu_used)


async def closed_loop(
    customers: list[Customer], send: Send, first: int, count: int, outcomes: Outcomes, think_s: float = 0.0
) -> None:
    """Every customer sends messages ``first`` .. ``first + count - 1`` one after another,
    pausing a random think time (exponential, mean ``think_s``) between them when asked."""

    async def one_after_another(customer: Customer) -> None:
        for n in range(first, first + count):
            await outcomes.call(send, customer, n, time.perf_counter())
            if think_s:
                await asyncio.sleep(random.expovariate(1 / think_s))

    await asyncio.gather(*(one_after_another(customer) for customer in customers))


async def open_loop(
    customers: list[Customer], send: Send, requests: int, rate_per_s: float, outcomes: Outcomes
) -> None:
    """``requests`` messages arriving at ``rate_per_s`` (exponential gaps), round robin over the
    customers; each is sent when due, without waiting for any answer. A message's latency counts
    from when it was due, so a load generator that falls behind does not hide the wait."""
    started = time.perf_counter()
    due = started
    calls = []
    for i in range(requests):
        due += random.expovariate(rate_per_s)
        await asyncio.sleep(max(0.0, due - time.perf_counter()))
        customer, n = customers[i % len(customers)], WARMUP_PER_CUSTOMER + i // len(customers)
        calls.append(asyncio.create_task(outcomes.call(send, customer, n, due)))
    await asyncio.gather(*calls)
