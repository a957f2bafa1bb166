"""The command line: ``python -m bench.long_context``."""

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from bench import long_context
from bench.long_context.embedded import replay_on_local
from bench.long_context.plots import plot_local, plot_stub
from bench.long_context.report import Results, section, write_section
from bench.long_context.reuse import measure_reuse
from bench.long_context.stub import replay_on_stub
from bench.long_context.summaries import compare_summaries
from replyd.settings import Settings

REPO = Path(__file__).resolve().parents[2]
DOCS = REPO / "docs"
PARTS = ("stub", "local", "summaries", "reuse")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench.long_context", description=long_context.__doc__.split("\n\n")[0]
    )
    parser.add_argument("--only", choices=PARTS, action="append", help="run only this part (repeatable)")
    parser.add_argument("--turns", type=int, default=1000, help="turns against the stub model")
    parser.add_argument("--budget", type=int, default=2000, help="context budget against the stub model")
    parser.add_argument("--local-turns", type=int, default=1000, help="turns on the embedded model")
    parser.add_argument("--local-budget", type=int, default=2000, help="context budget on the embedded model")
    parser.add_argument("--reply-tokens", type=int, default=24, help="max_reply_tokens on the embedded model")
    parser.add_argument(
        "--summary-turns", type=int, default=120, help="turns per variant, embedded model writing its summaries"
    )
    parser.add_argument(
        "--summary-budget", type=int, default=1000, help="context budget, embedded model writing its summaries"
    )
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
    parts = args.only or PARTS
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
        if "summaries" in parts:
            print(
                f"(c) {args.summary_turns} turns, summaries by the embedded model, inline and ahead ...",
                file=sys.stderr,
            )
            results.summaries = compare_summaries(work, args.summary_turns, args.summary_budget, args.reply_tokens)
        if "reuse" in parts:
            print("(d) state reuse ...", file=sys.stderr)
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
