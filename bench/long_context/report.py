"""The numbers as a section of docs/performance.md: statistics, tables, the targets' verdicts."""

import argparse
import os
import platform
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from bench.long_context.embedded import LocalTurn, TurnTimes
from bench.long_context.reuse import Reuse
from bench.long_context.stats import (
    Verdict,
    blocks,
    cut_spacing,
    cuts_by_kind,
    mean,
    median,
    summaries_written,
    within_budget,
)
from bench.long_context.stub import StubTurn
from bench.long_context.summaries import SummaryRuns, summaries_section
from bench.processes import cpu_model, memory_gib

SECTION = "## Long conversations (issue 7)"
FINDINGS = "### Findings"
"""A subsection written by hand after a run; a new run keeps it."""
TARGET_WARM_SPEEDUP = 10.0
TARGET_RAW_RATIO = 1.2


# ---------------------------------------------------------------- analysis


def is_flat(prompt_tokens: list[int], cuts: list[bool]) -> tuple[bool, str]:
    """Flat: once the budget is first reached (the first cut), the last 100 turns send on average
    within 10% of what the 100 turns after that cut sent, and at most 10% more at their largest."""
    if True not in cuts:
        return False, "The budget was never reached."
    first = cuts.index(True)
    early, late = prompt_tokens[first : first + 100], prompt_tokens[-100:]
    is_met = abs(mean(late) - mean(early)) <= 0.1 * mean(early) and max(late) <= 1.1 * max(early)
    return is_met, (
        f"First cut at turn {first + 1}. Prompt tokens: mean {mean(early):.0f} (max {max(early)}) over the 100 "
        f"turns after it, mean {mean(late):.0f} (max {max(late)}) over the last 100."
    )


def stub_table(turns: list[StubTurn]) -> str:
    lines = [
        "| turns | prompt tokens (mean / max) | cached tokens (mean) | cached share "
        "| billed prompt tokens (mean) | billed uncached (mean) | cuts (ahead / inline) | latency p50 / max ms |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for span in blocks(len(turns), 100):
        rows = [turns[n] for n in span]
        prompt = [r.prompt_tokens for r in rows]
        cached = [r.cached_tokens for r in rows]
        latency = [r.served.latency_s * 1000 for r in rows]
        lines.append(
            f"| {span.start + 1}-{span.stop} | {mean(prompt):.0f} / {max(prompt)} | {mean(cached):.0f} "
            f"| {sum(cached) / sum(prompt):.0%} | {mean([r.billed_prompt_tokens for r in rows]):.0f} "
            f"| {mean([r.billed_prompt_tokens - r.billed_cached_tokens for r in rows]):.0f} "
            f"| {cuts_by_kind([r.served for r in rows])} | {median(latency):.0f} / {max(latency):.0f} |"
        )
    return "\n".join(lines)


def local_table(turns: list[LocalTurn], size: int) -> str:
    lines = [
        "| turns | prompt tokens (mean / max) | evaluated anew (median) | reused from KV cache (probe) "
        "| cached tokens stored (mean / share) | time to first token p50 s | latency p50 / max s "
        "| cuts (ahead / inline) |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for span in blocks(len(turns), size):
        rows = [turns[n] for n in span]
        latency = [r.served.latency_s for r in rows]
        prompt = [r.times.prompt_tokens for r in rows]
        new = [r.times.new_tokens for r in rows]
        stored = [r.stored_cached_tokens for r in rows]
        lines.append(
            f"| {span.start + 1}-{span.stop} | {mean(prompt):.0f} / {max(prompt)} | {median(new):.0f} "
            f"| {1 - sum(new) / sum(prompt):.0%} | {mean(stored):.0f} / {sum(stored) / sum(prompt):.0%} "
            f"| {median([r.times.first_token_s for r in rows]):.2f} "
            f"| {median(latency):.2f} / {max(latency):.1f} | {cuts_by_kind([r.served for r in rows])} |"
        )
    return "\n".join(lines)


def stored_cached(turns: list[LocalTurn]) -> str:
    """replyd's stored ``cached_tokens`` against the probe's count of the tokens llama.cpp reused."""
    prompt = sum(t.times.prompt_tokens for t in turns)
    reused = [t.times.prompt_tokens - t.times.new_tokens for t in turns]
    same = sum(t.stored_cached_tokens == r for t, r in zip(turns, reused, strict=True))
    return (
        f"replyd stored as `cached_tokens` {sum(t.stored_cached_tokens for t in turns) / prompt:.1%} of the prompt "
        f"tokens llama.cpp counted, the probe saw {sum(reused) / prompt:.1%} reused (prompt minus evaluated "
        f"anew); the two agree on {same} of {len(turns)} turns"
    )


def counts_compared(turns: list[LocalTurn]) -> str:
    """replyd's count of each prompt (the budget's) against llama.cpp's."""
    differences = [t.counted_tokens - t.times.prompt_tokens for t in turns]
    largest = max(turns, key=lambda t: t.times.prompt_tokens)
    return f"replyd counts the largest prompt as {largest.counted_tokens} tokens against the budget; its count " + (
        f"minus llama.cpp's is always {differences[0]} tokens"
        if min(differences) == max(differences)
        else f"minus llama.cpp's is {min(differences)} to {max(differences)} tokens per prompt "
        f"(median {median(differences):.0f})"
    )


def context_sizes(turns: list[LocalTurn]) -> str:
    """llama.cpp's context over the run: the provider reloads the model to grow it."""
    sizes = [t.times.context_tokens for t in turns]
    grown = [n + 1 for n, t in enumerate(turns) if t.times.reloads]
    if not grown:
        return f"llama.cpp's context held {sizes[0]} tokens throughout (no reload)"
    return (
        f"llama.cpp's context grew from {sizes[0]} to {sizes[-1]} tokens, reloading the model "
        f"{sum(t.times.reloads for t in turns)} times (turns {', '.join(map(str, grown))})"
    )


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


# ---------------------------------------------------------------- the section


@dataclass
class Results:
    args: argparse.Namespace
    started: float
    load: tuple[tuple[float, float, float], tuple[float, float, float]] = ((0, 0, 0), (0, 0, 0))
    stub: list[StubTurn] | None = None
    local: list[LocalTurn] | None = None
    summaries: SummaryRuns | None = None
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
        out += stub_section(results.stub, args.budget, images["stub"], verdicts)
    if results.local is not None:
        out += local_section(results.local, args, images["local"], verdicts)
    if results.summaries is not None:
        lines, summary_verdicts = summaries_section(results.summaries)
        out += lines
        verdicts += summary_verdicts
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


def stub_section(turns: list[StubTurn], budget: int, image: str, verdicts: list[Verdict]) -> list[str]:
    is_met, detail = is_flat([t.prompt_tokens for t in turns], [t.is_cut for t in turns])
    verdicts.append(Verdict("prompt tokens flat after the budget is first reached (stub model)", is_met, detail))
    verdicts.append(
        within_budget(
            [t.budget_tokens for t in turns],
            budget,
            "replyd counts it (4 characters a token; a message adds its role and 3 tokens)",
            "stub model",
        )
    )
    return [
        f"### {len(turns)} turns against the stub model",
        "",
        f"Context budget {budget} tokens, summaries written ahead (replyd's default): after each turn the "
        "benchmark waits until no summary is in flight, as a customer's pause would; latency is the reply's HTTP "
        "request alone. The stub counts a prompt as its characters / 4 and reports as cached the prefix shared "
        "with the conversation's previous request; billed tokens are `messages.prompt_tokens` / `cached_tokens` "
        "as replyd stored them (a cut turn also pays for its summary, written ahead or inline). Cuts by how their "
        f"summary came are replyd's `replyd_history_cuts_total`. {cut_spacing([t.is_cut for t in turns])}; "
        f"{summaries_written([t.served for t in turns], [t.is_cut for t in turns])}.",
        "",
        stub_table(turns),
        "",
        f"![prompt, cached and billed tokens and latency per turn, stub model]({image})",
        "",
    ]


def local_section(turns: list[LocalTurn], args: argparse.Namespace, image: str, verdicts: list[Verdict]) -> list[str]:
    prompt = [t.times.prompt_tokens for t in turns]
    is_met, detail = is_flat(prompt, [t.is_cut for t in turns])
    verdicts.append(Verdict("prompt tokens flat after the budget is first reached (embedded model)", is_met, detail))
    budget = within_budget(prompt, args.local_budget, "llama.cpp counts it (template included)", "embedded model")
    verdicts.append(budget)
    return [
        f"### {len(turns)} turns on the embedded model",
        "",
        f"`local:smollm2`, context budget {args.local_budget} tokens, replies of at most {args.reply_tokens} "
        "tokens, temperature 0; summaries written by the stub (`summary_model`), ahead, so that only replies run "
        "on llama.cpp; the same pause after each turn. Time to first token is measured in-process from sending "
        "the request to llama.cpp sampling the first token. Reused from KV cache is the probe's count (prompt "
        "minus the tokens llama.cpp evaluated); cached tokens stored are `messages.cached_tokens`, as replyd "
        "stored and billed them, their share of the prompt tokens llama.cpp counted. "
        f"{cut_spacing([t.is_cut for t in turns])}; "
        f"{summaries_written([t.served for t in turns], [t.is_cut for t in turns])}.",
        "",
        local_table(turns, 25),
        "",
        f"{stored_cached(turns)}. {budget.detail} {counts_compared(turns)}. {context_sizes(turns)}.",
        "",
        proportionality(turns) + ".",
        "",
        f"![prompt tokens, reused tokens, time to first token per turn, embedded model]({image})",
        "",
    ]


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
