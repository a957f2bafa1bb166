"""Part (c): what the turn that cuts costs when the embedded model writes its own summaries,
inline (``summaries_ahead=False``) against written ahead (replyd's default).

Two replyd servers in this process, each with its own embedded model (no ``summary_model``: the
assistant's model, ``local:smollm2``, writes its summaries) and the same scripted conversation,
turn by turn: turn n on the inline server, then turn n on the ahead server. After each turn the
benchmark waits until the server has no summary in flight, and times that wait: it models a
customer's pause between messages, long enough for the summary written ahead to finish, so the
next turn finds it done. A summary written ahead still occupies the one llama.cpp model of its
process while it runs: a message arriving meanwhile waits for it (and if the budget runs out
before the summary lands, the cutting turn summarises inline after all). So the ahead variant's
numbers are those of customers who pause longer than a summary takes; the background time says
how long that is."""

import sys
from dataclasses import dataclass, field
from pathlib import Path

from bench.long_context.stats import Verdict, cuts_by_kind, median
from bench.long_context.stub import SYSTEM_PROMPT, Exchange, customer_message, running_replyd
from replyd.services.assistant_config import AssistantConfig


@dataclass
class SummaryRuns:
    """Part (c): every turn of both servers."""

    budget: int
    reply_tokens: int
    inline: list[Exchange] = field(default_factory=list)
    ahead: list[Exchange] = field(default_factory=list)


def compare_summaries(work: Path, turns: int, budget: int, reply_tokens: int) -> SummaryRuns:
    result = SummaryRuns(budget, reply_tokens)

    def config(name: str) -> AssistantConfig:
        return AssistantConfig(
            name=name,
            model="local:smollm2",
            system_prompt=SYSTEM_PROMPT,
            context_budget_tokens=budget,
            max_reply_tokens=reply_tokens,
            temperature=0,
        )

    with (
        running_replyd(work, None, config("summaries-inline"), summaries_ahead=False) as inline,
        running_replyd(work, None, config("summaries-ahead"), summaries_ahead=True) as ahead,
    ):
        for n in range(turns):
            message = customer_message(0, n)
            for replyd, served in ((inline, result.inline), (ahead, result.ahead)):
                served.append(replyd.turn(message, "long-summaries")[1])
            if n % 10 == 9:
                print(
                    f"  summaries: {n + 1} turns, cuts (ahead / inline) {cuts_by_kind(result.inline)} on the inline "
                    f"server, {cuts_by_kind(result.ahead)} on the ahead server",
                    file=sys.stderr,
                )
    return result


# ---------------------------------------------------------------- its part of the section


def latency(served: list[Exchange]) -> str:
    seconds = [s.latency_s for s in served]
    return f"{median(seconds):.2f} / {max(seconds):.2f}" if seconds else "-"


def cut_turn_p50(served: list[Exchange]) -> float:
    return median([s.latency_s for s in served if s.cut])


def summaries_table(runs: SummaryRuns) -> str:
    lines = [
        "| variant | turns | cuts (ahead / inline) | turns that cut: latency p50 / max s "
        "| other turns: latency p50 / max s | summaries on the critical path | summaries in the background "
        "| background time p50 / max s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, served in (("inline (`summaries_ahead=False`)", runs.inline), ("ahead (the default)", runs.ahead)):
        background = [s.pause_s for s in served if s.written_ahead or s.discarded_ahead]
        written = sum(s.written_ahead + s.discarded_ahead for s in served)
        lines.append(
            f"| {name} | {len(served)} | {sum(s.cut is not None for s in served)} ({cuts_by_kind(served)}) "
            f"| {latency([s for s in served if s.cut])} | {latency([s for s in served if not s.cut])} "
            f"| {sum(s.cut == 'inline' for s in served)} | {written} "
            f"| {f'{median(background):.2f} / {max(background):.2f}' if background else '-'} |"
        )
    return "\n".join(lines)


def summaries_section(runs: SummaryRuns) -> tuple[list[str], list[Verdict]]:
    """The subsection's lines, and its verdict: the turn that cuts is faster with its summary
    written ahead."""
    lines = [
        f"### Summaries written by the embedded model, inline and ahead, {len(runs.inline)} turns",
        "",
        f"`local:smollm2` writing its own summaries (no `summary_model`), context budget {runs.budget} tokens, "
        f"replies of at most {runs.reply_tokens} tokens, temperature 0. Two replyd servers in this process, one "
        "with `summaries_ahead=False` and one with the default, each with its own llama.cpp model, take the same "
        "conversation turn by turn (inline first). After each turn the benchmark waits until no summary is in "
        "flight, as a customer's pause would: a summary written ahead runs on the same single llama.cpp model as "
        "the replies, so a message arriving before it finishes would wait for it. Latency is the reply's HTTP "
        "request alone; the background time is that wait, where a summary was written ahead.",
        "",
        summaries_table(runs),
        "",
    ]
    target = "turn that cuts faster with its summary written ahead (embedded model writing its summaries)"
    if not any(s.cut for s in runs.inline) or not any(s.cut for s in runs.ahead):
        return lines, [Verdict(target, False, "A variant never cut: more turns or a smaller budget are needed.")]
    ratio = cut_turn_p50(runs.ahead) / cut_turn_p50(runs.inline)
    appending = median([s.latency_s for s in runs.ahead if not s.cut])
    discarded = sum(s.discarded_ahead for s in runs.ahead)
    lines += [
        f"**Turn that cuts, ahead / inline (p50): {cut_turn_p50(runs.ahead):.2f} s / "
        f"{cut_turn_p50(runs.inline):.2f} s = {ratio:.2f}x.** With its summary written ahead, a turn that cuts "
        f"still takes {cut_turn_p50(runs.ahead) / appending:.1f}x a turn that does not ({appending:.2f} s, p50): "
        "it evaluates the turns that came after the prompt after the cut was prepared, and its own."
        + (f" {discarded} summaries written ahead were refused or failed." if discarded else ""),
        "",
    ]
    verdict = Verdict(
        target,
        ratio < 1,
        f"p50 {cut_turn_p50(runs.ahead):.2f} s ahead against {cut_turn_p50(runs.inline):.2f} s inline "
        f"({ratio:.2f}x), the summary written ahead in the pause after a turn (p50 background time in the table).",
    )
    return lines, [verdict]
