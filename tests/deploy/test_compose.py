"""compose.yaml, checked offline (no container engine runs compose here; tests/container runs the
image itself): the parts fit together and every setting it needs is in .env.example."""

import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).parents[2]
REQUIRED = re.compile(r"\$\{(\w+):\?")


def services() -> dict[str, Any]:
    found: dict[str, Any] = yaml.safe_load((ROOT / "compose.yaml").read_text())["services"]
    return found


def replicas() -> list[str]:
    """The services running the image's default command, ``replyd serve``."""
    return [
        name
        for name, service in services().items()
        if service.get("image") == "replyd:local" and "command" not in service
    ]


def test_every_setting_compose_requires_is_in_the_example_env_file() -> None:
    required = set(REQUIRED.findall((ROOT / "compose.yaml").read_text()))
    example = {line.split("=", 1)[0] for line in (ROOT / ".env.example").read_text().splitlines() if "=" in line}
    assert required and required <= example


def test_two_replicas_start_after_the_migration_and_the_proxy_sends_to_both() -> None:
    found = services()
    assert found["migrate"]["command"] == ["migrate"]
    assert len(replicas()) == 2
    for name in replicas():
        assert found[name]["depends_on"]["migrate"]["condition"] == "service_completed_successfully"
    caddyfile = (ROOT / "deploy" / "compose" / "Caddyfile").read_text()
    assert all(f"{name}:8000" in caddyfile for name in replicas())


def test_the_database_lives_in_a_volume() -> None:
    assert services()["postgres"]["volumes"] == ["postgres-data:/var/lib/postgresql/data"]
