"""``replyd serve`` as a real process: the banner's example works as printed, and the embedded
model waits for its first reply when asked to. (That its workers do not outlive it is in
tests/faults.)"""

import itertools
import json
import subprocess
from pathlib import Path

import httpx

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


def llama_cpp_loaded(server: ServerProcess) -> bool:
    """Whether llama.cpp's library is mapped into the server (one worker: the process itself)."""
    return "libllama" in Path(f"/proc/{server.process.pid}/maps").read_text()


def test_without_preloading_the_embedded_model_loads_on_the_first_reply_that_uses_it(
    serve_env: dict[str, str], tmp_path: Path, stopped_after: list[ServerProcess]
) -> None:
    env = serve_env | {"REPLYD_PRELOAD_LOCAL_MODEL": "false"}
    init = subprocess.run([str(REPLYD), "init", "--json"], env=env, cwd=tmp_path, capture_output=True)
    assert init.returncode == 0, init.stderr
    server = ServerProcess("lazy", env, tmp_path)
    stopped_after.append(server)
    server.start()
    assert (
        "loads the embedded model (SmolLM2-135M-Instruct) on the first reply that uses it"
        in server.log_path.read_text()
    )
    assert not llama_cpp_loaded(server)

    answer = httpx.post(
        f"{server.url}/api/ai/generate-reply",
        headers={"Authorization": f"Bearer {json.loads(init.stdout)['api_token']}"},
        json={"assistant_id": 1, "customer_identifier": "+49155551234", "message": "Hi!"},
        timeout=120,
    )

    assert answer.status_code == 200 and answer.json()["reply"], answer.text
    assert llama_cpp_loaded(server)
