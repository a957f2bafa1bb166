"""Processes for benchmarks: start a server and wait for its port, read its CPU time (with its
workers'), sample it with py-spy, and describe the machine."""

import math
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

START_TIMEOUT_S = 120.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def running(
    name: str, args: list[str], port: int, log_path: Path, start_timeout_s: float = START_TIMEOUT_S, **popen: object
) -> Iterator[subprocess.Popen[bytes]]:
    """Start a server process, wait until it accepts connections on ``port``, stop it on exit."""
    with log_path.open("wb") as log:
        process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, **popen)  # type: ignore[call-overload]
        try:
            wait_for_port(name, process, port, log_path, start_timeout_s)
            yield process
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def wait_for_port(
    name: str, process: subprocess.Popen[bytes], port: int, log_path: Path, timeout_s: float = START_TIMEOUT_S
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"{name} exited with code {process.returncode}:\n{log_path.read_text()}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"{name} did not listen on port {port} within {timeout_s:.0f} s:\n{log_path.read_text()}")


@contextmanager
def profiling(pid: int, out: Path | None, py_spy: Path) -> Iterator[None]:
    """With ``out``, sample process ``pid`` and its subprocesses (a server's workers) with
    py-spy while the block runs, and write their collapsed stacks to ``out``."""
    if out is None:
        yield
        return
    args = [str(py_spy), "record", "--pid", str(pid), "--subprocesses", "--nonblocking", "--rate", "100"]
    args += ["--format", "raw", "-o", str(out)]
    process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1)  # let it attach
    try:
        yield
    finally:
        process.send_signal(signal.SIGINT)  # py-spy writes its file on Ctrl-C
        process.wait(timeout=60)


def cpu_s(pid: int) -> float:
    """User + system CPU seconds of process ``pid`` so far (Linux); NaN elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return math.nan
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def tree_cpu_s(pid: int) -> float:
    """User + system CPU seconds so far of process ``pid`` and its live descendants (a server's
    worker processes); NaN if ``pid`` is gone or this is not Linux."""
    parents: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rpartition(")")[2].split()[1])
        except (OSError, ValueError, IndexError):
            continue  # gone meanwhile
        parents.setdefault(parent, []).append(int(stat.parent.name))
    total, todo = cpu_s(pid), parents.get(pid, [])
    while todo:
        child = todo.pop()
        total += 0.0 if math.isnan(spent := cpu_s(child)) else spent
        todo += parents.get(child, [])
    return total


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def memory_gib() -> str:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return f"{int(line.split()[1]) / 1024**2:.0f} GiB"
    except OSError:
        pass
    return "? GiB"


def p50_p99_cells(seconds: list[float]) -> str:
    """Two table cells: the median and the 99th percentile of ``seconds``, in ms."""
    ms = sorted(s * 1000 for s in seconds)
    return f"{statistics.median(ms):.1f} | {ms[int(len(ms) * 0.99) - 1]:.1f}"


def one_by_one_row(what: str, seconds: list[float]) -> list[str]:
    """A table of one-after-another timings (``what`` heads the p50 column): p50, p90, max in ms."""
    ms = [s * 1000 for s in seconds]
    return [
        f"| part | count | {what} p50 ms | p90 ms | max ms |",
        "|---|---:|---:|---:|---:|",
        f"| 2: one by one | {len(ms)} | {statistics.median(ms):.0f} | {statistics.quantiles(ms, n=10)[-1]:.0f} "
        f"| {max(ms):.0f} |",
    ]


def logged_errors(log_path: Path) -> Counter[str]:
    """The exceptions a server logged, by their last traceback line."""
    return Counter(
        line
        for line in log_path.read_text(errors="replace").splitlines()
        if line[:1].isalpha() and ("Error:" in line or "Exception:" in line)
    )


def tell_logged_errors(work: Path, is_failed: bool = False) -> None:
    """Print the exceptions the servers logged in ``work`` (``*/replyd.log`` or ``replyd.log``),
    then delete ``work``, unless they logged any or the run ``is_failed``: then say where it is."""
    errors = sum((logged_errors(log) for log in work.glob("**/replyd.log")), Counter[str]())
    for line, count in errors.most_common():
        print(f"replyd logged {count}x: {line}")
    if errors or is_failed:
        print(f"\nreplyd's logs are kept in {work}")
    else:
        shutil.rmtree(work)
