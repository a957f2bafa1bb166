"""SIGKILL of the ``replyd serve`` parent: its workers exit too, and a new ``replyd serve``
gets the port (orphaned workers would hold it: "Address already in use")."""

import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.processes import STOP_TIMEOUT_S, ServerProcess, is_running, wait_until_gone

pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the process table in /proc"),
    pytest.mark.skipif(
        bool(os.environ.get("REPLYD_TEST_POSTGRES_URL")),
        reason="in the PostgreSQL + Redis pass, test_mid_load.py kills the parent mid-load and checks the same",
    ),
]


@pytest.fixture
def orphans() -> Iterator[list[int]]:
    """Worker pids to kill after the test, should any have outlived its parent."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        if is_running(pid):
            os.kill(pid, signal.SIGKILL)


def test_workers_exit_when_the_parent_is_killed_and_a_new_serve_gets_the_port(
    serve_env: dict[str, str], tmp_path: Path, stopped_after: list[ServerProcess], orphans: list[int]
) -> None:
    first = ServerProcess("parent", serve_env, tmp_path, workers=2)
    stopped_after.append(first)
    first.start()
    orphans.extend(first.worker_pids())
    assert len(orphans) == 2, first.log_tail()

    first.kill()

    assert wait_until_gone(orphans, STOP_TIMEOUT_S) == [], "the workers outlived their parent"
    second = ServerProcess("after", serve_env, tmp_path, port=first.port)
    stopped_after.append(second)
    second.start()  # fails with "Address already in use" while an old worker holds the port
