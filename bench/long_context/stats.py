"""What every part's report uses: medians and means of short lists, blocks of turns, cuts, and
the targets' verdicts."""

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

from bench.long_context.stub import CUT_KINDS, Exchange


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else math.nan


def mean(values: Sequence[float]) -> float:
    return statistics.fmean(values) if values else math.nan


def blocks(count: int, size: int) -> list[range]:
    return [range(start, min(start + size, count)) for start in range(0, count, size)]


def cut_spacing(cuts: list[bool]) -> str:
    at = [n for n, is_cut in enumerate(cuts) if is_cut]
    gaps = [b - a for a, b in zip(at, at[1:], strict=False)]
    if not gaps:
        return f"{len(at)} cut(s)"
    return f"{len(at)} cuts, {min(gaps)} to {max(gaps)} turns apart (median {median(gaps):.0f})"


def cuts_by_kind(served: Sequence[Exchange]) -> str:
    """``ahead / inline``: the turns whose cut applied a summary written ahead, and those that
    wrote it on their way to the model."""
    return " / ".join(str(sum(s.cut == kind for s in served)) for kind in CUT_KINDS)


def summaries_written(served: Sequence[Exchange], is_cut: Sequence[bool]) -> str:
    """How the cuts got their summaries, as replyd's metrics counted them; and where that count
    disagrees with the prompts themselves (a cut is a prompt that no longer starts with the
    previous one), the turns that differ."""
    ahead, inline = (sum(s.cut == kind for s in served) for kind in CUT_KINDS)
    written = sum(s.written_ahead for s in served)
    discarded = sum(s.discarded_ahead for s in served)
    text = (
        f"{ahead} of the cuts applied a summary written ahead, {inline} summarised inline; "
        f"{written} summaries written ahead were stored for a coming cut"
        + (f", {discarded} more refused or failed" if discarded else "")
    )
    differ = [n + 1 for n, (s, cut) in enumerate(zip(served, is_cut, strict=True)) if (s.cut is not None) != cut]
    if differ:
        text += f". replyd's cut count and the prompts disagree on turns {', '.join(map(str, differ[:10]))}"
    return text


@dataclass(frozen=True)
class Verdict:
    target: str
    is_met: bool
    detail: str

    def line(self) -> str:
        return f"- **{self.target}**: {'met' if self.is_met else 'NOT met'}. {self.detail}"


def within_budget(counted: Sequence[int], budget: int, counter: str, model: str) -> Verdict:
    """Every prompt, as ``counter`` counts it, within the budget."""
    largest = max(counted)
    turn = counted.index(largest) + 1
    over = sum(c > budget for c in counted)
    return Verdict(
        f"prompts within the context budget ({model})",
        over == 0,
        f"Largest prompt {largest} tokens (turn {turn}) as {counter}, budget {budget}: "
        + (f"{over} of {len(counted)} prompts over it." if over else f"{budget - largest} to spare."),
    )
