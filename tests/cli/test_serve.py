"""``replyd serve`` as a real process: the banner's example works as printed. (That its workers
do not outlive it is in tests/faults.)"""

import itertools
import json
import subprocess
from pathlib import Path

from tests.processes import REPLYD, ServerProcess


def banner_example(log: str) -> str:
    """The shell lines the banner offers to paste: the indented ones after "Try it"."""
    after = log.split("Try it", 1)[1].splitlines()[2:]  # past the two lines of advice
    return "\n".join(itertools.takewhile(lambda line: line.startswith("  "), after))


def test_the_banner_s_example_answers_once_the_token_init_printed_is_filled_in(
    serve_env: dict[str, str], tmp_path: Path, stopped_after: list[ServerProcess]
) -> None:
    init = subprocess.run([str(REPLYD), "init", "--json"], env=serve_env, cwd=tmp_path, capture_output=True)
    assert init.returncode == 0, init.stderr
    token = json.loads(init.stdout)["api_token"]
    server = ServerProcess("banner", serve_env, tmp_path)
    stopped_after.append(server)
    server.start()

    example = banner_example(server.log_path.read_text())
    assert example.startswith("  TOKEN=rpd_...\n  curl -s " + server.url), example
    pasted = example.replace("TOKEN=rpd_...", f"TOKEN={token}")
    answer = subprocess.run(["bash", "-c", pasted], env=serve_env, capture_output=True, text=True, timeout=120)
    assert answer.returncode == 0, answer.stderr
    body = json.loads(answer.stdout)
    assert body["success"] is True and body["reply"], body
