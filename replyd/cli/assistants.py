"""``replyd assistants``: the assistants that answer an account's customers."""

from pathlib import Path
from typing import Any

import typer
from rich.markup import escape

from replyd import json_rules
from replyd.cli.common import JsonOption, emit, fail, load_settings, with_services
from replyd.errors import NestingTooDeep, ValidationFailed
from replyd.services import Services
from replyd.services.views import AssistantView

assistants_app = typer.Typer(help="Create assistants.", no_args_is_help=True)


def read_config(path: Path | None) -> dict[str, Any]:
    if path is None:
        return {}
    try:
        data = json_rules.loads(path.read_text())
        json_rules.check(data)
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror}")
    except ValueError as exc:
        fail(f"{path} is not valid JSON: {exc}")
    except NestingTooDeep as exc:
        fail(f"{path}: {exc.message}")
    except ValidationFailed as exc:
        fail(
            f"{path} holds text that cannot be stored:\n" + "\n".join(f"  {p.field}: {p.message}" for p in exc.problems)
        )
    if not isinstance(data, dict):
        fail(f"{path} must hold a JSON object of assistant fields")
    return data


@assistants_app.command("create")
def create(
    account_id: int = typer.Argument(...),
    name: str | None = typer.Option(None, help="The assistant's name."),
    model: str | None = typer.Option(None, help="provider:model, e.g. local:smollm2 or openai:gpt-4o-mini."),
    prompt: str | None = typer.Option(None, help="System prompt; {{variable}} placeholders allowed."),
    config: Path | None = typer.Option(None, help="JSON file with any assistant fields; flags override it."),
    as_json: bool = JsonOption,
) -> None:
    """Create an assistant for an account."""
    flags = {"name": name, "model": model, "system_prompt": prompt}
    fields = read_config(config) | {key: value for key, value in flags.items() if value is not None}

    async def work(services: Services) -> AssistantView:
        return await services.assistants.create(account_id, fields)

    assistant = with_services(load_settings(), work)
    emit(
        as_json,
        {"assistant_id": assistant.id},
        f"Created assistant [bold]{assistant.id}[/] ({escape(assistant.name)}, {assistant.config.model}) "
        f"for account {account_id}.",
    )
