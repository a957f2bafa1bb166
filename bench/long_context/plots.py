"""The figures next to the section: tokens and latency per turn."""

from pathlib import Path

from bench.long_context.embedded import LocalTurn
from bench.long_context.stub import StubTurn


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
    latency.plot(x, [t.served.latency_s * 1000 for t in turns], ".", ms=2, label="latency per turn")
    colours = {"ahead": "tab:green", "inline": "red"}
    for kind, colour in colours.items():
        at = [n for n, turn in enumerate(turns, start=1) if turn.served.cut == kind]
        for n in at:
            latency.axvline(n, color=colour, lw=0.4, alpha=0.6, label=f"cut, summary {kind}" if n == at[0] else None)
    latency.set_ylabel("latency, ms")
    latency.legend(loc="upper right", fontsize=8)
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
    stored = [t.stored_cached_tokens for t in turns]
    tokens.plot(x, stored, color="tab:red", lw=0.7, ls=":", label="cached tokens stored by replyd")
    tokens.axhline(budget, color="grey", ls="--", lw=0.8, label=f"context budget ({budget})")
    tokens.set_ylabel("tokens")
    tokens.set_xlabel("turn")
    tokens.legend(loc="upper right", fontsize=8)
    tokens.set_title(f"{len(turns)} turns on the embedded model (SmolLM2-135M, llama.cpp) through replyd")
    times.plot(x, [t.served.latency_s for t in turns], ".", ms=3, label="latency")
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
