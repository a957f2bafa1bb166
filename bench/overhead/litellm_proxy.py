"""LiteLLM's proxy, the peer replyd is measured against: the version pinned in
``bench/tool_env.py``, one worker, a master key, no database, one model routed to the same stub.

Nothing in it may reach out to the internet (there is none here, and a benchmark should not
call home): the model cost map and the other files it would fetch are read from the package,
and its telemetry is off. Its logging stays as shipped: one access line per request, as replyd's."""

import os
from pathlib import Path

MASTER_KEY = "sk-bench"
MODEL = "stub-model"
OFFLINE_ENV = {
    "LITELLM_LOCAL_MODEL_COST_MAP": "True",
    "LITELLM_LOCAL_ANTHROPIC_BETA_HEADERS": "True",
    "LITELLM_LOCAL_BLOG_POSTS": "True",
    "LITELLM_LOCAL_POLICY_TEMPLATES": "True",
    "LITELLM_LOCAL_AUTOROUTER_PRESETS": "True",
    "LITELLM_TELEMETRY_DISABLED": "True",
}
CONFIG = """\
model_list:
  - model_name: {model}
    litellm_params:
      model: openai/{model}
      api_base: {stub_url}
      api_key: x
general_settings:
  master_key: {master_key}
"""


def litellm_config(work: Path, stub_url: str) -> Path:
    path = work / "litellm.yaml"
    path.write_text(CONFIG.format(model=MODEL, stub_url=stub_url, master_key=MASTER_KEY))
    return path


def litellm_command(tool_bin: Path, config: Path, port: int) -> list[str]:
    """One uvicorn worker; uvicorn listens only once the proxy's startup is done, so an open
    port means it is ready."""
    listen = ["--host", "127.0.0.1", "--port", str(port), "--num_workers", "1"]
    return [str(tool_bin / "litellm"), "--config", str(config), *listen]


def litellm_env() -> dict[str, str]:
    """This environment without anything that would give the proxy a database, a cache or a
    provider key of its own."""
    dropped = ("LITELLM_", "OPENAI_", "DATABASE_URL", "REDIS_", "STORE_MODEL_IN_DB")
    return {k: v for k, v in os.environ.items() if not k.startswith(dropped)} | OFFLINE_ENV
