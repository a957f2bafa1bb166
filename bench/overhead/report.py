"""What a run prints: the machine, one table with a row per load and leg, replyd's latency by
position in its conversation, and issue 12's targets."""

import os
import platform
import subprocess
from datetime import date

from bench.overhead.legs import LITELLM, REPLYD, STUB, Row
from bench.overhead.replyd_server import Deployment
from bench.processes import cpu_model, memory_gib

TARGET_CPU_MS = 4.0
"""replyd's CPU per reply on the stub path, one process, SQLite."""
TARGET_VS_LITELLM = 2.0
"""replyd's replies/s over LiteLLM's, closed loop at 64 customers."""
TARGET_OPEN_P99_OVERHEAD_MS = 25.0
"""replyd's p99 minus the stub's, open loop at 100 replies/s over 64 customers."""
TARGET_ENDPOINT_CPU_MS = 1.0
"""Issue 14: replyd's extra CPU per reply for an account with one endpoint, delivery included."""


def machine(deployment: Deployment, tools: str) -> str:
    load_1, load_5, _ = os.getloadavg()
    return (
        f"{date.today()}, commit {commit()}, {os.cpu_count()} cores ({cpu_model()}), {memory_gib()}, "
        f"load average {load_1:.1f} (1 min) {load_5:.1f} (5 min) at the end, Python {platform.python_version()}, "
        f"{deployment.describe()}; {tools}"
    )


def commit() -> str:
    """The commit measured, and whether replyd's code differs from it (changes elsewhere do not count)."""

    def git(*args: str) -> str:
        return subprocess.run(["git", *args], capture_output=True, text=True).stdout.strip()

    head = git("rev-parse", "--short", "HEAD") or "?"
    return f"{head} with uncommitted changes to replyd/" if git("status", "--porcelain", "--", "replyd") else head


def table(rows: list[Row]) -> str:
    header = (
        "| load | leg | requests | failed | replies/s | p50 ms | p99 ms | overhead p50 ms | overhead p99 ms "
        "| CPU ms/reply | replies/s replyd ÷ LiteLLM |"
    )
    lines = [header, "|---|---|" + "---:|" * (header.count("|") - 3)]
    for row in rows:
        for leg, stats in row.stats.items():
            failed = ", ".join(f"{n}x{status}" for status, n in sorted(stats.failed.items())) or "0"
            overhead = "– | –" if leg == STUB else "{:.1f} | {:.1f}".format(*row.overhead_ms(leg))
            ratio = f"{stats.per_s / row.stats[LITELLM].per_s:.2f}" if leg == REPLYD and LITELLM in row.stats else ""
            lines.append(
                f"| {row.load.name} | {leg} | {stats.requests} | {failed} | {stats.per_s:.0f} "
                f"| {stats.p50_ms:.1f} | {stats.p99_ms:.1f} | {overhead} | {ms(stats.cpu_ms)} | {ratio} |"
            )
    return "\n".join(lines)


def ms(value: float | None) -> str:
    return "?" if value is None else f"{value:.1f}"


def position_table(rows: list[Row]) -> str:
    """p50 through replyd by how far into its conversation a customer's message is."""
    lines = ["| load | measured messages of each customer | p50 ms |", "|---|---:|---:|"]
    for row in rows:
        by_position = row.stats[REPLYD].by_position
        lines += [f"| {row.load.name} | {first}-{last} | {p50:.1f} |" for first, last, p50 in by_position]
    return "\n".join(lines)


def targets(rows: list[Row], deployment: Deployment) -> list[str]:
    """Issue 12's targets that this run measured, each met or not."""
    verdicts = []
    cpu_ms = [cpu for row in rows if (cpu := row.stats[REPLYD].cpu_ms) is not None]
    if deployment == Deployment() and cpu_ms:
        worst = max(cpu_ms)
        target = f"replyd CPU per reply <= {TARGET_CPU_MS:.0f} ms (the most of any load)"
        verdicts.append(verdict(target, worst <= TARGET_CPU_MS, f"{worst:.1f} ms"))
    for row in rows:
        load, replyd = row.load, row.stats[REPLYD]
        extra = row.endpoint_extra_median_ms
        if extra is not None:
            target = f"{load.name}: extra CPU per reply with one endpoint <= {TARGET_ENDPOINT_CPU_MS:g} ms (median)"
            rounds = ", ".join(f"{e:+.2f}" for e in row.endpoint_extra_ms)
            verdicts.append(verdict(target, extra <= TARGET_ENDPOINT_CPU_MS, f"{extra:+.2f} ms; rounds {rounds}"))
        if load.customers == 64 and load.rate_per_s is None and LITELLM in row.stats:
            ratio = replyd.per_s / row.stats[LITELLM].per_s
            is_met = ratio >= TARGET_VS_LITELLM and not replyd.failed
            verdicts.append(
                verdict(f"{load.name}: replyd >= {TARGET_VS_LITELLM:g}x LiteLLM's replies/s", is_met, f"{ratio:.2f}x")
            )
        if load.customers == 64 and load.rate_per_s == 100:
            p99 = row.overhead_ms(REPLYD)[1]
            is_met = p99 <= TARGET_OPEN_P99_OVERHEAD_MS and not replyd.failed
            verdicts.append(
                verdict(f"{load.name}: p99 overhead <= {TARGET_OPEN_P99_OVERHEAD_MS:.0f} ms", is_met, f"{p99:.1f} ms")
            )
    return verdicts


def verdict(target: str, is_met: bool, measured: str) -> str:
    return f"Target {target}: {'met' if is_met else 'NOT met'} ({measured})"
