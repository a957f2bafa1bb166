"""``replyd init``: create or migrate the database, and on first run a ready-to-use account;
``replyd migrate``: only migrate it, as a deployment's migration step."""

import json
import shlex

import typer

from replyd.cli.common import JsonOption, emit, errors, load_settings, with_services
from replyd.money import parse_amount
from replyd.services import Services
from replyd.store.migrate import head_revision, upgrade_database
from replyd.store.session import display_url

STARTING_BALANCE = "10.00"
DEMO_PROMPT = (
    "You are the friendly assistant of a small shop, talking with {{customer_name}} on {{source}}. "
    'Start your reply with "Hi {{customer_name}}!", then answer briefly and helpfully.'
)
"""Uses the variables the README's example sends (one not sent renders empty); the embedded
model follows a plain instruction to use the name more often than a hint."""
DEMO_VARIABLES = {"customer_name": "John", "source": "whatsapp"}


def curl_example(token: str, assistant_id: int, base_url: str = "http://127.0.0.1:8000") -> str:
    body = json.dumps(
        {
            "assistant_id": assistant_id,
            "customer_identifier": "+49155551234",
            "message": "Hi! Are you open on Saturday?",
            "variables": DEMO_VARIABLES,
        }
    )
    return (
        f"curl -s {base_url}/api/ai/generate-reply \\\n"
        f"  -H \"Authorization: Bearer {token}\" -H 'Content-Type: application/json' \\\n"
        f"  -d {shlex.quote(body)}"
    )


def init(as_json: bool = JsonOption) -> None:
    """Create or migrate the database; on first run also create an account (balance 10.00),
    an API token and a demo assistant on the embedded model."""
    settings = load_settings()
    errors.print(f"Migrating database {display_url(settings.database_url)} ...")

    async def work(services: Services) -> tuple[int, str, int] | None:
        if await services.accounts.exists_any():
            return None
        new = await services.accounts.create("default", parse_amount(STARTING_BALANCE))
        demo = {"name": "Demo assistant", "system_prompt": DEMO_PROMPT}
        assistant = await services.assistants.create(new.account.id, demo)
        return new.account.id, new.token.secret, assistant.id

    created = with_services(settings, work)
    revision = head_revision(settings.database_url)
    if created is None:
        emit(
            as_json,
            {"database": display_url(settings.database_url), "revision": revision, "created": False},
            f"Database is at revision {revision}; accounts already exist, nothing else to do.\n"
            "Create more with `replyd accounts create NAME`.",
        )
        return
    account_id, secret, assistant_id = created
    emit(
        as_json,
        {
            "account_id": account_id,
            "api_token": secret,
            "assistant_id": assistant_id,
            "database": display_url(settings.database_url),
            "revision": revision,
            "created": True,
        },
        f"Database ready at revision {revision}.\n"
        f"Created account {account_id} (balance {STARTING_BALANCE}) and demo assistant {assistant_id} "
        "on the embedded model.\n"
        f"API token (shown once, keep it safe): [bold]{secret}[/]\n\n"
        "Start the server with `replyd serve`, then try:\n",
    )
    if not as_json:
        typer.echo(curl_example(secret, assistant_id))


def migrate(as_json: bool = JsonOption) -> None:
    """Migrate the database to this version's schema and change nothing else: a deployment's
    migration step (a Job, a one-shot service), run once before the new version's replicas start."""
    settings = load_settings()
    errors.print(f"Migrating database {display_url(settings.database_url)} ...")
    upgrade_database(settings.database_url)
    revision = head_revision(settings.database_url)
    emit(
        as_json,
        {"database": display_url(settings.database_url), "revision": revision},
        f"Database ready at revision {revision}.",
    )


def register(app: typer.Typer) -> None:
    app.command("init")(init)
    app.command("migrate")(migrate)
