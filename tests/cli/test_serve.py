"""``replyd serve`` as a real process: the banner's example works as printed, and its
workers do not outlive it."""

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.scale.conftest import REPLYD, STOP_TIMEOUT_S, ServerProcess, stop_all

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the process table in /proc")


def state_of(pid: int) -> tuple[str, int] | None:
    """A process's state letter and parent pid, from /proc; None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    state, ppid = stat.rsplit(")", 1)[1].split()[:2]
    return state, int(ppid)


def is_running(pid: int) -> bool:
    """Alive and not a zombie (an exited process nobody has reaped yet holds nothing)."""
    state = state_of(pid)
    return state is not None and state[0] != "Z"


def workers_of(parent: int) -> list[int]:
    """The processes ``parent`` started with multiprocessing's spawn: uvicorn's workers."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (state_of(int(entry.name)) or ("", 0))[1] == parent:
            try:
                if b"spawn_main" in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except (FileNotFoundError, ProcessLookupError):
                pass
    return found


def wait_until_gone(pids: list[int], timeout_s: float) -> list[int]:
    """Poll until none of ``pids`` runs; returns those still running at the deadline."""
    deadline = time.monotonic() + timeout_s
    while (running := [pid for pid in pids if is_running(pid)]) and time.monotonic() < deadline:
        time.sleep(0.05)
    return running


@pytest.fixture
def serve_env(tmp_path: Path) -> dict[str, str]:
    inherited = {name: value for name, value in os.environ.items() if not name.startswith("REPLYD_")}
    return inherited | {
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
        "REPLYD_DATABASE_URL": f"sqlite:///{tmp_path}/replyd.db",
    }


@pytest.fixture
def servers() -> Iterator[list[ServerProcess]]:
    """Server processes to stop after the test."""
    started: list[ServerProcess] = []
    yield started
    stop_all(started)


@pytest.fixture
def orphans() -> Iterator[list[int]]:
    """Worker pids to kill after the test, should any have outlived its parent."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        if is_running(pid):
            os.kill(pid, signal.SIGKILL)


def test_workers_exit_when_the_parent_is_killed_and_a_new_serve_gets_the_port(
    serve_env: dict[str, str], tmp_path: Path, servers: list[ServerProcess], orphans: list[int]
) -> None:
    first = ServerProcess("parent", serve_env, tmp_path, workers=2)
    servers.append(first)
    first.start()
    assert first.process is not None
    orphans.extend(workers_of(first.process.pid))
    assert len(orphans) == 2, first.log_tail()

    first.kill()

    assert wait_until_gone(orphans, STOP_TIMEOUT_S) == [], "the workers outlived their parent"
    second = ServerProcess("after", serve_env, tmp_path, port=first.port)
    servers.append(second)
    second.start()  # fails with "Address already in use" while an old worker holds the port


def banner_example(log: str) -> str:
    """The shell lines the banner offers to paste: the indented ones after "Try it"."""
    after = log.split("Try it", 1)[1].splitlines()[2:]  # past the two lines of advice
    return "\n".join(itertools.takewhile(lambda line: line.startswith("  "), after))


def test_the_banner_s_example_answers_once_the_token_init_printed_is_filled_in(
    serve_env: dict[str, str], tmp_path: Path, servers: list[ServerProcess]
) -> None:
    init = subprocess.run([str(REPLYD), "init", "--json"], env=serve_env, cwd=tmp_path, capture_output=True)
    assert init.returncode == 0, init.stderr
    token = json.loads(init.stdout)["api_token"]
    server = ServerProcess("banner", serve_env, tmp_path)
    servers.append(server)
    server.start()

    example = banner_example(server.log_path.read_text())
    assert example.startswith("  TOKEN=rpd_...\n  curl -s " + server.url), example
    pasted = example.replace("TOKEN=rpd_...", f"TOKEN={token}")
    answer = subprocess.run(["bash", "-c", pasted], env=serve_env, capture_output=True, text=True, timeout=120)
    assert answer.returncode == 0, answer.stderr
    body = json.loads(answer.stdout)
    assert body["success"] is True and body["reply"], body
