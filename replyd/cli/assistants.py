"""``replyd assistants``: the assistants that answer an account's customers."""

from pathlib import Path
from typing import Any

import typer
from pydantic import ValidationError
from rich.markup import escape
from sqlalchemy.ext.asyncio import AsyncSession

from replyd import json_rules
from replyd.cli.common import JsonOption, emit, fail, in_transaction, load_settings
from replyd.engine.assistant_config import AssistantConfig
from replyd.errors import NestingTooDeep, ValidationFailed
from replyd.store import accounts
from replyd.store.assistants import create_assistant

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


def validate_config(fields: dict[str, Any]) -> AssistantConfig:
    try:
        return AssistantConfig.model_validate(fields)
    except ValidationError as exc:
        problems = "\n".join(
            f"  {'.'.join(str(p) for p in error['loc']) or 'config'}: {error['msg']}" for error in exc.errors()
        )
        fail(f"the assistant's settings are invalid:\n{problems}")


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
    settings = validate_config(fields)

    async def work(session: AsyncSession) -> int:
        if await accounts.get_account(session, account_id) is None:
            fail(f"no account {account_id}")
        return (await create_assistant(session, account_id, settings.to_columns())).id

    assistant_id = in_transaction(load_settings(), work)
    emit(
        as_json,
        {"assistant_id": assistant_id},
        f"Created assistant [bold]{assistant_id}[/] ({escape(settings.name)}, {settings.model}) "
        f"for account {account_id}.",
    )
