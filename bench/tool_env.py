"""The benchmarks' own virtualenv, ``bench/.venv``: the peer replyd is measured against
(LiteLLM's proxy) and the profiler (py-spy). They live apart from replyd's ``.venv`` so that
neither becomes, or pins a version of, a dependency of replyd.

The benchmarks make it on first use; ``.venv/bin/python -m bench.tool_env`` makes it ahead."""

import subprocess
import sys
import venv
from pathlib import Path

TOOL_ENV = Path(__file__).resolve().parent / ".venv"
REQUIREMENTS = ("litellm[proxy]==1.108.7", "py-spy==0.4.3")


def tool_bin() -> Path:
    """``bench/.venv/bin``, installed first if it is missing or was made with other pins."""
    marker = TOOL_ENV / ".installed"
    wanted = "\n".join(REQUIREMENTS)
    if marker.exists() and marker.read_text() == wanted:
        return TOOL_ENV / "bin"
    print(f"Installing {', '.join(REQUIREMENTS)} into {TOOL_ENV} (first use: a minute or two) ...", file=sys.stderr)
    venv.create(TOOL_ENV, with_pip=True, clear=True)
    pip = [str(TOOL_ENV / "bin" / "python"), "-m", "pip", "install", "--quiet", "--progress-bar", "off"]
    subprocess.run([*pip, *REQUIREMENTS], check=True)
    marker.write_text(wanted)
    return TOOL_ENV / "bin"


if __name__ == "__main__":
    print(tool_bin())
