"""Summarise the collapsed stacks of ``py-spy record --format raw`` (the benchmarks' ``--profile``):
where a server's busy samples went, by library, by function (own time), and by function of the
server's own package with all it calls.

Each sample is charged to the innermost library on its stack that is not the standard library
(``typing.get_origin`` called by the openai SDK counts as the SDK's), or to the innermost
standard-library module when nothing else is on it; a sample whose innermost Python frame hands
over to C code (uvloop's loop, SQLite on aiosqlite's thread) is charged to that C code. Samples of a
thread waiting for work (a selector's poll, a worker thread blocked on its queue) are idle and
left out, as are py-spy's process and thread frames.

Run:  .venv/bin/python -m bench.stacks stacks.txt [--top 15]
"""

import argparse
import sys
from collections import Counter
from pathlib import Path

IDLE_LEAVES = ("select (selectors.py", "wait (threading.py", "get (queue.py", "_worker (concurrent/futures/thread.py")
"""Leaf frames of a thread that waits for work: the loop's poll, pool threads with nothing queued."""
IN_C = {
    "Runner.run (asyncio/runners.py": "the event loop itself, in C (uvloop)",
    "_connection_worker_thread (aiosqlite/core.py": "SQLite itself, in C (on aiosqlite's thread)",
}
"""Leaf frames that call into C code that py-spy does not see: their samples are that code's."""


def samples(path: Path) -> Counter[tuple[str, ...]]:
    """Stack (outermost frame first, "function (file:line)") -> how many samples had it."""
    stacks: Counter[tuple[str, ...]] = Counter()
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        frames = tuple(frame for frame in stack.split(";") if not frame.startswith(("process ", "thread ")))
        if frames and count.isdigit():
            stacks[frames] += int(count)
    return stacks


def is_idle(frames: tuple[str, ...]) -> bool:
    return frames[-1].startswith(IDLE_LEAVES)


def module(frame: str) -> str:
    """The top-level package of a frame's file: "sqlalchemy" for "execute (sqlalchemy/orm/session.py:12)"."""
    file = frame.rpartition(" (")[2].rstrip(")").rpartition(":")[0]
    return file.split("/")[0].removesuffix(".py")


def library(frames: tuple[str, ...]) -> str:
    in_c = [label for leaf, label in IN_C.items() if frames[-1].startswith(leaf)]
    if in_c:
        return in_c[0]
    modules = [name for frame in reversed(frames) if (name := module(frame))]
    outside = [name for name in modules if name not in sys.stdlib_module_names and not name.startswith("<")]
    return outside[0] if outside else modules[0] if modules else "(no Python frame)"


def function(frame: str) -> str:
    """A frame without its line number: one row per function, not per line."""
    return frame.rpartition(":")[0] + ")"


def summary(stacks: Counter[tuple[str, ...]], top: int, own_package: str) -> str:
    busy = Counter({frames: count for frames, count in stacks.items() if not is_idle(frames)})
    total = sum(busy.values())
    by_library: Counter[str] = Counter()
    by_function: Counter[str] = Counter()
    by_own_code: Counter[str] = Counter()
    for frames, count in busy.items():
        by_library[library(frames)] += count
        by_function[function(frames[-1])] += count
        for name in {function(frame) for frame in frames if module(frame) == own_package}:
            by_own_code[name] += count
    lines = [f"{total} busy samples ({sum(stacks.values()) - total} idle left out)", ""]
    lines += ["| library (innermost on the stack, not the standard library) | share |", "|---|---:|"]
    lines += [f"| {name} | {count / total:.1%} |" for name, count in by_library.most_common(top)]
    lines += ["", "| function (own time) | share |", "|---|---:|"]
    lines += [f"| `{name}` | {count / total:.1%} |" for name, count in by_function.most_common(top)]
    lines += ["", f"| {own_package}'s function, with all it calls | share |", "|---|---:|"]
    lines += [f"| `{name}` | {count / total:.1%} |" for name, count in by_own_code.most_common(top)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.stacks", description=__doc__.split("\n\n")[0])
    parser.add_argument("stacks", type=Path, help="a file written by py-spy record --format raw")
    parser.add_argument("--top", type=int, default=15, help="rows per table (default 15)")
    parser.add_argument("--own", default="replyd", help="the package whose functions get a table with all they call")
    args = parser.parse_args()
    print(summary(samples(args.stacks), args.top, args.own))


if __name__ == "__main__":
    main()
