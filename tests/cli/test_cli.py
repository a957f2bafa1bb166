"""The ``replyd`` command line, run in-process with Typer's CliRunner. Every test gets its own
SQLite file (the CLI migrates it) and runs in its own directory, so no stray ``.env`` is read.
Typer's CliRunner keeps the streams apart: ``result.stdout``, ``result.stderr``, and
``result.output`` with both as a terminal would show them."""

import hashlib
import json
import re
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner, Result

from replyd import __version__
from replyd.cli.main import app
from tests.conftest import STUB_MODEL
from tests.servers import StubModel

runner = CliRunner()
ANSI = re.compile(r"\x1b\[[0-9;]*m")


def plain(text: str) -> str:
    """Output without colours, in case Rich decided it was talking to a terminal."""
    return ANSI.sub("", text)


@dataclass
class Cli:
    """``cli("accounts", "show", "1")`` runs ``replyd accounts show 1`` against this test's database."""

    db_path: Path
    env: dict[str, str | None]

    def __call__(self, *args: str, input: str | None = None) -> Result:
        return runner.invoke(app, list(args), input=input, env=self.env)

    def json(self, *args: str) -> dict[str, Any]:
        """Run with ``--json``; the command must succeed and print exactly one JSON object."""
        result = self(*args, "--json")
        assert result.exit_code == 0, result.output
        data: dict[str, Any] = json.loads(result.stdout)
        return data

    def query(self, sql: str, *params: Any) -> list[tuple[Any, ...]]:
        with sqlite3.connect(self.db_path) as connection:
            return connection.execute(sql, params).fetchall()

    def balance(self, account_id: int) -> str:
        balance: str = self.json("accounts", "show", str(account_id))["balance"]
        return balance


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stub_model: StubModel) -> Cli:
    monkeypatch.chdir(tmp_path)
    db_path = tmp_path / "x.db"
    return Cli(
        db_path,
        {
            "REPLYD_DATABASE_URL": f"sqlite:///{db_path}",
            "REPLYD_OPENAI_BASE_URL": stub_model.base_url,  # type: ignore[attr-defined]
            "REPLYD_OPENAI_API_KEY": "k",
            "REPLYD_MODEL_RETRIES": "0",
        },
    )


@pytest.fixture
def live_server(cli: Cli, start_server: Callable[..., AbstractContextManager[str]]) -> Iterator[httpx.Client]:
    """A replyd server over the CLI's database, with an HTTP client pointed at it."""
    with (
        start_server(database_url=f"sqlite:///{cli.db_path}", rate_limit="100/minute") as url,
        httpx.Client(base_url=url) as client,
    ):
        yield client


def generate_reply(client: httpx.Client, token: str, assistant_id: int, message: str = "hi") -> httpx.Response:
    return client.post(
        "/api/ai/generate-reply",
        json={"assistant_id": assistant_id, "customer_identifier": "+49155551234", "message": message},
        headers={"Authorization": f"Bearer {token}"},
    )


def make_stub_assistant(cli: Cli, account_id: int, *flags: str) -> int:
    assistant_id: int = cli.json(
        "assistants", "create", str(account_id), "--name", "Stub", "--model", STUB_MODEL, *flags
    )["assistant_id"]
    return assistant_id


# --- the command itself ---------------------------------------------------------------------


def test_version_prints_replyd_and_the_package_version(cli: Cli) -> None:
    result = cli("--version")
    assert result.exit_code == 0
    assert result.stdout == f"replyd {__version__}\n"


def test_help_lists_every_command(cli: Cli) -> None:
    result = cli("--help")
    assert result.exit_code == 0
    commands_section = plain(result.stdout).partition("Commands")[2]
    listed = re.findall(r"^\W*([a-z-]+) {2,}\S", commands_section, flags=re.MULTILINE)
    assert listed == [
        "init", "migrate", "serve", "chat", "accounts", "tokens", "assistants", "conversations", "customers",
        "webhooks", "channels"
    ]  # fmt: skip


# --- init ------------------------------------------------------------------------------------


def test_init_on_a_fresh_database_creates_an_account_token_and_assistant(cli: Cli) -> None:
    result = cli("init", "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert {"account_id", "api_token", "assistant_id", "database", "revision", "created"} <= set(body)
    assert body["created"] is True
    assert body["api_token"].startswith("rpd_")
    assert len(body["api_token"]) >= 36
    assert body["revision"]
    assert "Migrating database" in result.stderr
    assert cli.balance(body["account_id"]) == "10.00"
    assert cli.query("SELECT account_id FROM assistants WHERE id = ?", body["assistant_id"]) == [(body["account_id"],)]


def test_second_init_reports_nothing_created_and_adds_no_account(cli: Cli) -> None:
    first = cli.json("init")
    second = cli.json("init")
    assert second["created"] is False
    assert "api_token" not in second
    assert second["revision"] == first["revision"]
    assert cli.query("SELECT count(*) FROM accounts") == [(1,)]
    assert cli.query("SELECT count(*) FROM api_tokens") == [(1,)]
    assert cli.query("SELECT count(*) FROM assistants") == [(1,)]


def test_migrate_brings_the_schema_up_and_creates_no_account(cli: Cli) -> None:
    body = cli.json("migrate")
    assert body["revision"] and body["database"] == f"sqlite:///{cli.db_path}"
    assert cli.query("SELECT count(*) FROM accounts") == [(0,)]
    assert cli.json("init")["created"] is True  # init after migrate still makes the first account


def test_init_for_people_prints_the_token_and_a_curl_command(cli: Cli) -> None:
    result = cli("init")
    assert result.exit_code == 0, result.output
    out = plain(result.stdout)
    token = re.search(r"rpd_[A-Za-z0-9_-]{32,}", out)
    assert token is not None
    assert "curl -s http://127.0.0.1:8000/api/ai/generate-reply" in out
    assert f"Authorization: Bearer {token.group()}" in out
    assert cli.query("SELECT token_sha256 FROM api_tokens") == [(hashlib.sha256(token.group().encode()).hexdigest(),)]


def test_the_demo_assistant_s_prompt_uses_the_variables_the_example_sends(
    cli: Cli, live_server: httpx.Client, stub_model: StubModel
) -> None:
    created = cli.json("init")
    auth = {"Authorization": f"Bearer {created['api_token']}"}
    on_stub = live_server.patch(f"/api/assistants/{created['assistant_id']}", json={"model": STUB_MODEL}, headers=auth)
    assert on_stub.status_code == 200, on_stub.text  # the prompt stays the demo's; the stub records what it got
    body = {
        "assistant_id": created["assistant_id"],
        "customer_identifier": "+49155551234",
        "message": "Hi!",
        "variables": {"customer_name": "John", "source": "whatsapp"},
    }
    assert live_server.post("/api/ai/generate-reply", json=body, headers=auth).status_code == 200
    system = stub_model.requests[-1]["messages"][0]
    assert system["role"] == "system"
    assert "talking with John on whatsapp" in system["content"] and '"Hi John!"' in system["content"]


def test_the_readme_quotes_what_init_prints_today(cli: Cli) -> None:
    """The quick start pastes real output: it must follow when a migration or a message changes."""
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    printed = plain(cli("init").stdout).splitlines()
    assert printed[0] == f"Database ready at revision {cli.json('init')['revision']}."
    for line in printed[:2]:
        assert line in readme


# --- accounts --------------------------------------------------------------------------------


def test_balance_follows_opening_balance_and_top_ups(cli: Cli) -> None:
    created = cli.json("accounts", "create", "Shop", "--balance", "2.50")
    account_id = created["account_id"]
    assert created["api_token"].startswith("rpd_")
    shown = cli.json("accounts", "show", str(account_id))
    assert shown == {
        "account_id": account_id,
        "name": "Shop",
        "currency": "EUR",
        "balance": "2.50",
        "balance_micros": 2_500_000,
        "balance_low_threshold": None,
        "conversation_retention_days": None,
    }

    topped = cli.json("accounts", "top-up", str(account_id), "1.25")
    assert topped["balance"] == "3.75"
    assert cli.balance(account_id) == "3.75"
    assert cli.query("SELECT sum(amount_micros) FROM ledger_entries WHERE account_id = ?", account_id) == [(3_750_000,)]


def test_a_balance_alert_is_set_shown_and_turned_off(cli: Cli) -> None:
    account_id = cli.json("accounts", "create", "Shop", "--balance", "2.00")["account_id"]
    set_alert = cli.json("accounts", "balance-alert", str(account_id), "0.50")
    assert set_alert == {"account_id": account_id, "balance_low_threshold": "0.50", "balance": "2.00"}
    assert cli.json("accounts", "show", str(account_id))["balance_low_threshold"] == "0.50"
    assert "alert below 0.50" in plain(cli("accounts", "show", str(account_id)).stdout)
    assert cli.json("accounts", "balance-alert", str(account_id), "off")["balance_low_threshold"] is None
    refused = cli("accounts", "balance-alert", str(account_id), "cheap")
    assert refused.exit_code != 0 and "is not an amount" in plain(refused.output)


def test_top_up_for_people_says_the_new_balance(cli: Cli) -> None:
    account_id = cli.json("accounts", "create", "Shop", "--balance", "1.00")["account_id"]
    result = cli("accounts", "top-up", str(account_id), "0.000001")
    assert result.exit_code == 0, result.output
    assert f"Account {account_id}: balance now 1.000001." in plain(result.stdout)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["accounts", "create", "Shop", "--balance", "abc"], "'abc' is not an amount"),
        (["accounts", "create", "Shop", "--balance", "1.0000001"], "at most six decimals"),
        (["accounts", "create", "Shop", "--balance", "-1"], "an opening balance cannot be negative"),
        (["accounts", "top-up", "1", "abc"], "'abc' is not an amount"),
        (["accounts", "top-up", "1", "1.0000001"], "at most six decimals"),
        (["accounts", "top-up", "1", "--", "-1"], "must be a positive amount"),
        (["accounts", "top-up", "1", "-1"], "No such option: -1"),
        (["accounts", "top-up", "1", "0"], "must be a positive amount"),
        (["accounts", "top-up", "1", "NaN"], "not an amount"),
    ],
)
def test_invalid_amount_is_refused_and_changes_nothing(cli: Cli, args: list[str], message: str) -> None:
    cli.json("init")
    result = cli(*args)
    assert result.exit_code != 0
    assert message in plain(result.stderr)
    assert result.stdout == ""
    assert cli.query("SELECT count(*) FROM accounts") == [(1,)]
    assert cli.balance(1) == "10.00"


@pytest.mark.parametrize(
    "args",
    [
        ["accounts", "show", "99"],
        ["accounts", "top-up", "99", "1.00"],
        ["tokens", "create", "99"],
        ["assistants", "create", "99", "--name", "Nobody's"],
    ],
)
def test_unknown_account_exits_1_naming_it(cli: Cli, args: list[str]) -> None:
    result = cli(*args)
    assert result.exit_code == 1
    assert "no account 99" in plain(result.stderr)
    for table in ("ledger_entries", "api_tokens", "assistants"):
        assert cli.query(f"SELECT count(*) FROM {table}") == [(0,)], table


def test_account_name_with_brackets_is_printed_as_written(cli: Cli) -> None:
    result = cli("accounts", "create", "Shop [EU] a[/]b")
    assert result.exit_code == 0, result.output
    assert "(Shop [EU] a[/]b)" in plain(result.stdout)
    shown = cli("accounts", "show", "1")
    assert "(Shop [EU] a[/]b)" in plain(shown.stdout)


def test_error_about_text_with_brackets_is_printed_not_a_traceback(cli: Cli) -> None:
    cli.json("init")
    result = cli("accounts", "top-up", "1", "[/]")
    assert result.exit_code == 1
    assert "'[/]' is not an amount" in plain(result.stderr)
    assert "Traceback" not in result.output


# --- tokens ----------------------------------------------------------------------------------


def test_token_with_its_own_rate_limit_gets_that_limit_from_the_server(cli: Cli, live_server: httpx.Client) -> None:
    account_id = cli.json("accounts", "create", "Shop")["account_id"]
    assistant_id = make_stub_assistant(cli, account_id)
    token = cli.json("tokens", "create", str(account_id), "--rate-limit", "3/minute")
    assert token["api_token"].startswith("rpd_")
    assert cli.query("SELECT rate_limit FROM api_tokens WHERE id = ?", token["token_id"]) == [("3/minute",)]

    response = generate_reply(live_server, token["api_token"], assistant_id)
    assert response.status_code == 200, response.text
    assert response.headers["X-RateLimit-Limit"] == "3"
    assert response.headers["X-RateLimit-Remaining"] == "2"


@pytest.mark.parametrize("rate", ["lots", "3/fortnight", ""])
def test_invalid_rate_limit_is_refused_and_no_token_is_made(cli: Cli, rate: str) -> None:
    account_id = cli.json("accounts", "create", "Shop")["account_id"]
    result = cli("tokens", "create", str(account_id), "--rate-limit", rate)
    assert result.exit_code == 1
    assert f"{rate!r} is not a rate limit" in plain(result.stderr)
    assert cli.query("SELECT count(*) FROM api_tokens") == [(1,)]


def test_new_token_may_only_reply_unless_admin_scope_is_asked_for(cli: Cli, live_server: httpx.Client) -> None:
    account_id = cli.json("accounts", "create", "Shop")["account_id"]
    assistant_id = make_stub_assistant(cli, account_id)
    replies = cli.json("tokens", "create", str(account_id))
    admin = cli.json("tokens", "create", str(account_id), "--scope", "admin")
    assert (replies["scope"], admin["scope"]) == ("replies", "admin")
    assert cli.query("SELECT id, scope FROM api_tokens WHERE id > 1 ORDER BY id") == [
        (replies["token_id"], "replies"),
        (admin["token_id"], "admin"),
    ]

    assert generate_reply(live_server, replies["api_token"], assistant_id).status_code == 200
    refused = live_server.get("/api/account", headers={"Authorization": f"Bearer {replies['api_token']}"})
    assert refused.status_code == 403, refused.text
    allowed = live_server.get("/api/account", headers={"Authorization": f"Bearer {admin['api_token']}"})
    assert allowed.status_code == 200, allowed.text
    assert allowed.json()["token"]["scope"] == "admin"


def test_tokens_are_listed_newest_first_revoked_ones_too_and_never_whole(cli: Cli) -> None:
    account_id = cli.json("accounts", "create", "Shop")["account_id"]
    replies = cli.json("tokens", "create", str(account_id), "--rate-limit", "60/minute")
    cli.json("tokens", "revoke", str(replies["token_id"]))
    listed = cli.json("tokens", "list", str(account_id))
    assert [(t["id"], t["scope"], t["rate_limit"], t["revoked_at"] is not None) for t in listed["tokens"]] == [
        (replies["token_id"], "replies", "60/minute", True),
        (1, "admin", None, False),
    ]
    assert listed["tokens"][0]["prefix"] == replies["api_token"][:12]
    for_people = plain(cli("tokens", "list", str(account_id)).stdout)
    assert replies["api_token"][:12] in for_people and replies["api_token"] not in for_people
    missing = cli("tokens", "list", "99")
    assert missing.exit_code == 1 and "no account 99" in plain(missing.stderr)


def test_token_for_people_names_its_scope(cli: Cli) -> None:
    account_id = cli.json("accounts", "create", "Shop")["account_id"]
    result = cli("tokens", "create", str(account_id), "--scope", "replies")
    assert result.exit_code == 0, result.output
    assert f"Created replies token 2 for account {account_id} (shown once): rpd_" in plain(result.stdout)


@pytest.mark.parametrize("scope", ["root", "Admin", ""])
def test_unknown_scope_is_refused_and_no_token_is_made(cli: Cli, scope: str) -> None:
    account_id = cli.json("accounts", "create", "Shop")["account_id"]
    result = cli("tokens", "create", str(account_id), "--scope", scope)
    assert result.exit_code == 1
    assert f"{scope!r} is not a scope; use one of: admin, replies" in plain(result.stderr)
    assert result.stdout == ""
    assert cli.query("SELECT count(*) FROM api_tokens") == [(1,)]


def test_first_tokens_of_init_and_accounts_create_are_admin(cli: Cli) -> None:
    cli.json("init")
    cli.json("accounts", "create", "Shop")
    assert cli.query("SELECT account_id, scope FROM api_tokens ORDER BY id") == [(1, "admin"), (2, "admin")]


def test_revoked_token_is_refused_with_401_while_other_tokens_still_work(cli: Cli, live_server: httpx.Client) -> None:
    first = cli.json("init")
    assistant_id = make_stub_assistant(cli, first["account_id"])
    token = cli.json("tokens", "create", str(first["account_id"]))
    assert generate_reply(live_server, token["api_token"], assistant_id).json()["reply"] == "echo: hi"

    assert cli.json("tokens", "revoke", str(token["token_id"])) == {"token_id": token["token_id"], "revoked": True}

    refused = generate_reply(live_server, token["api_token"], assistant_id)
    assert refused.status_code == 401
    assert refused.json()["error_code"] == "UNAUTHENTICATED"
    assert generate_reply(live_server, first["api_token"], assistant_id).status_code == 200


def test_revoking_twice_says_already_revoked(cli: Cli) -> None:
    token_id = cli.json("tokens", "create", str(cli.json("init")["account_id"]))["token_id"]
    first = cli("tokens", "revoke", str(token_id))
    assert first.exit_code == 0
    assert f"Token {token_id} revoked." in plain(first.stdout)
    again = cli("tokens", "revoke", str(token_id))
    assert again.exit_code == 0
    assert f"Token {token_id} was already revoked." in plain(again.stdout)


def test_revoking_an_unknown_token_exits_1(cli: Cli) -> None:
    result = cli("tokens", "revoke", "42")
    assert result.exit_code == 1
    assert "no token 42" in plain(result.stderr)


def test_database_stores_the_tokens_hash_never_the_token(cli: Cli) -> None:
    secrets = [cli.json("init")["api_token"]]
    secrets.append(cli.json("tokens", "create", "1", "--rate-limit", "3/minute")["api_token"])
    secrets.append(cli.json("accounts", "create", "Shop")["api_token"])

    stored = {digest for (digest,) in cli.query("SELECT token_sha256 FROM api_tokens")}
    assert stored == {hashlib.sha256(secret.encode()).hexdigest() for secret in secrets}
    files = b"".join(path.read_bytes() for path in cli.db_path.parent.glob("x.db*"))
    for secret in secrets:
        assert hashlib.sha256(secret.encode()).hexdigest().encode() in files
        assert secret.encode() not in files


# --- assistants ------------------------------------------------------------------------------


def test_assistant_takes_its_settings_from_the_config_file_and_flags_override_it(cli: Cli, tmp_path: Path) -> None:
    account_id = cli.json("accounts", "create", "Shop")["account_id"]
    config = tmp_path / "assistant.json"
    config.write_text(
        json.dumps(
            {
                "name": "From the file",
                "model": STUB_MODEL,
                "system_prompt": "Prompt from the file",
                "temperature": 0.2,
                "max_reply_tokens": 64,
                "context_budget_tokens": 512,
                "first_message": "Welcome!",
                "reply_fee": "0.02",
                "input_price_per_million_tokens": 1.5,
                "output_price_per_million_tokens": "3",
            }
        )
    )
    result = cli(
        "assistants",
        "create",
        str(account_id),
        "--config",
        str(config),
        "--name",
        "From the flag",
        "--prompt",
        "Prompt from the flag {{customer_identifier}}",
    )
    assert result.exit_code == 0, result.output
    assert "Created assistant 1 (From the flag, openai:stub-model) for account" in plain(result.stdout)

    row = cli.query(
        "SELECT account_id, name, system_prompt, model, temperature, max_reply_tokens, context_budget_tokens, "
        "first_message, reply_fee_micros, input_price_micros, output_price_micros FROM assistants"
    )
    assert row == [
        (
            account_id,
            "From the flag",
            "Prompt from the flag {{customer_identifier}}",
            STUB_MODEL,
            0.2,
            64,
            512,
            "Welcome!",
            20_000,
            1_500_000,
            3_000_000,
        )
    ]


def test_assistant_without_config_gets_the_defaults(cli: Cli) -> None:
    account_id = cli.json("accounts", "create", "Shop")["account_id"]
    cli.json("assistants", "create", str(account_id), "--name", "Plain")
    assert cli.query("SELECT name, model, temperature, reply_fee_micros FROM assistants") == [
        ("Plain", "local:smollm2", 0.7, 10_000)
    ]


BOOK = {"name": "book", "url": "https://crm.example.com/book"}
DEEP_SCHEMA = {"type": "object", "properties": {"a": json.loads('{"type": "array", "items": ' * 40 + "{}" + "}" * 40)}}


@pytest.mark.parametrize(
    ("config", "flags", "message"),
    [
        ({"name": "A", "model": "nope"}, [], "model:"),
        ({"name": "A"}, ["--model", "nope"], "model:"),
        ({"name": "A", "temperature": 5}, [], "temperature:"),
        ({"name": "A", "context_budget_tokens": 10}, [], "context_budget_tokens:"),
        ({"name": "A", "reply_fee": "0.0000001"}, [], "reply_fee:"),
        ({"name": "A", "colour": "red"}, [], "colour:"),
        ({"temperature": 0.5}, [], "name:"),
        ([1, 2], [], "must hold a JSON object"),
        ('{"name": "A", "system_prompt": "\\ud800"}', [], "system_prompt: Must be valid Unicode text"),
        ({"name": "A", "functions": [BOOK | {"parameters": {"type": "object", "title": "\ud800"}}]}, [], "title:"),
        ({"name": "A", "functions": [BOOK | {"parameters": DEEP_SCHEMA}]}, [], "more than 32 levels deep"),
        ('{"name": "A", "x": ' + "[" * 5000 + "]" * 5000 + "}", [], "nested deeper than 64 levels"),
        ("{not json", [], "is not valid JSON"),
        (None, [], "cannot read"),
    ],
)
def test_invalid_assistant_config_exits_1_naming_the_problem(
    cli: Cli, tmp_path: Path, config: Any, flags: list[str], message: str
) -> None:
    account_id = cli.json("accounts", "create", "Shop")["account_id"]
    path = tmp_path / "assistant.json"
    if config is not None:
        path.write_text(config if isinstance(config, str) else json.dumps(config))
    result = cli("assistants", "create", str(account_id), "--config", str(path), *flags)
    assert result.exit_code == 1
    assert message in plain(result.stderr)
    assert "Traceback" not in result.output
    assert cli.query("SELECT count(*) FROM assistants") == [(0,)]


# --- chat ------------------------------------------------------------------------------------


def test_chat_prints_the_reply_and_charges_the_fee(cli: Cli, stub_model: StubModel) -> None:
    account_id = cli.json("accounts", "create", "Shop", "--balance", "1.00")["account_id"]
    assistant_id = make_stub_assistant(cli, account_id)

    result = cli("chat", str(assistant_id), "--customer", "x", input="hello\n/quit\n")
    assert result.exit_code == 0, result.output
    assert "Stub: echo: hello" in plain(result.stdout)
    assert "Talking to Stub (openai:stub-model) as 'x'" in plain(result.stderr)
    assert len(stub_model.requests) == 1
    assert cli.balance(account_id) == "0.99"
    assert cli.query("SELECT kind, amount_micros FROM ledger_entries WHERE account_id = ? ORDER BY id", account_id) == [
        ("top_up", 1_000_000),
        ("reply", -10_000),
    ]


def test_chat_ends_at_end_of_input_and_skips_blank_lines(cli: Cli, stub_model: StubModel) -> None:
    account_id = cli.json("accounts", "create", "Shop")["account_id"]
    assistant_id = make_stub_assistant(cli, account_id)
    result = cli("chat", str(assistant_id), input="\n   \nhello\n")
    assert result.exit_code == 0, result.output
    assert "echo: hello" in plain(result.stdout)
    assert len(stub_model.requests) == 1


def test_chat_with_the_same_customer_remembers_the_last_session(cli: Cli, stub_model: StubModel) -> None:
    account_id = cli.json("accounts", "create", "Shop")["account_id"]
    assistant_id = make_stub_assistant(cli, account_id)
    cli("chat", str(assistant_id), "--customer", "anna", input="My name is Anna\n/exit\n")
    cli("chat", str(assistant_id), "--customer", "bob", input="Hi\n/exit\n")
    cli("chat", str(assistant_id), "--customer", "anna", input="What is my name?\n/exit\n")
    turns = [(m["role"], m["content"]) for m in stub_model.requests[-1]["messages"] if m["role"] != "system"]
    assert turns == [
        ("user", "My name is Anna"),
        ("assistant", "echo: My name is Anna"),
        ("user", "What is my name?"),
    ]


def test_chat_prints_a_reply_with_brackets_as_the_model_wrote_it(cli: Cli, stub_model: StubModel) -> None:
    account_id = cli.json("accounts", "create", "Shop")["account_id"]
    assistant_id = make_stub_assistant(cli, account_id)
    stub_model.enqueue("See [our menu](https://example.com) [/]")
    result = cli("chat", str(assistant_id), input="menu?\n/quit\n")
    assert result.exit_code == 0, result.output
    assert "Stub: See [our menu](https://example.com) [/]" in plain(result.stdout)


def test_chat_reports_a_refused_reply_and_goes_on(cli: Cli, stub_model: StubModel) -> None:
    account_id = cli.json("accounts", "create", "Shop", "--balance", "0.01")["account_id"]
    assistant_id = make_stub_assistant(cli, account_id)
    result = cli("chat", str(assistant_id), input="one\ntwo\n/quit\n")
    assert result.exit_code == 0, result.output
    assert "echo: one" in plain(result.stdout)
    assert "INSUFFICIENT_BALANCE" in plain(result.stderr)
    assert len(stub_model.requests) == 1
    assert cli.balance(account_id) == "0.00"


def test_chat_with_an_unknown_assistant_exits_1(cli: Cli) -> None:
    result = cli("chat", "7", input="hello\n")
    assert result.exit_code == 1
    assert "Assistant 7 was not found in any account" in plain(result.stderr)


def test_account_webhook_secret_is_shown_at_creation_and_rotates(cli: Cli) -> None:
    created = cli.json("accounts", "create", "shop")
    first = created["webhook_secret"]
    assert first.startswith("whsec_")
    assert cli.query("SELECT webhook_secret FROM accounts WHERE id = ?", created["account_id"]) == [(first,)]
    rotated = cli.json("accounts", "rotate-secret", str(created["account_id"]))["webhook_secret"]
    assert rotated.startswith("whsec_") and rotated != first
    kept = "SELECT webhook_secret, previous_webhook_secret, webhook_secret_rotated_at IS NOT NULL FROM accounts"
    assert cli.query(kept + " WHERE id = ?", created["account_id"]) == [(rotated, first, 1)]
    assert "old secret too for 24 hours" in plain(cli("accounts", "rotate-secret", str(created["account_id"])).stdout)
    unknown = cli("accounts", "rotate-secret", "999")
    assert unknown.exit_code == 1 and "no account 999" in unknown.stderr


def test_assistant_functions_are_validated_from_the_config_file(cli: Cli, tmp_path: Path) -> None:
    account_id = cli.json("accounts", "create", "shop")["account_id"]
    config = tmp_path / "functions.json"
    config.write_text(json.dumps({"name": "a", "functions": [{"name": "bad name", "url": "https://x.example"}]}))
    result = cli("assistants", "create", str(account_id), "--config", str(config))
    assert result.exit_code == 1 and "functions.0.name" in result.stderr
    good = {"name": "book", "url": "https://crm.example.com/book", "parameters": {"type": "object"}}
    config.write_text(json.dumps({"name": "a", "functions": [good], "handoff_enabled": True}))
    assistant_id = cli.json("assistants", "create", str(account_id), "--config", str(config))["assistant_id"]
    stored = cli.query("SELECT functions, handoff_enabled FROM assistants WHERE id = ?", assistant_id)
    assert json.loads(stored[0][0])[0]["name"] == "book" and stored[0][1] == 1


def test_an_operator_token_is_named_and_the_api_refuses_it(cli: Cli, live_server: httpx.Client) -> None:
    account_id = cli.json("accounts", "create", "Shop")["account_id"]
    assistant_id = make_stub_assistant(cli, account_id)
    nameless = cli("tokens", "create", str(account_id), "--scope", "operator")
    anna = cli.json("tokens", "create", str(account_id), "--scope", "operator", "--name", "  Anna  Berg ")

    assert nameless.exit_code == 1
    assert "must be given for an operator token" in plain(nameless.stderr)
    assert (anna["scope"], anna["name"]) == ("operator", "Anna Berg")
    listed = cli.json("tokens", "list", str(account_id))["tokens"]
    assert [(t["scope"], t["name"]) for t in listed][0] == ("operator", "Anna Berg")
    refused = generate_reply(live_server, anna["api_token"], assistant_id)
    assert refused.status_code == 403, refused.text
    assert "console only" in refused.json()["error"]
