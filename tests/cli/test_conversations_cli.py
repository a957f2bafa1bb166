"""``replyd conversations``: an operator reading every account's conversations and stepping in,
over the same database as the server. Conversations come from ``replyd chat`` on the stub model,
widget chats (which the command line cannot start) through the store."""

import asyncio
import re
import uuid
from typing import Any

import pytest

from replyd.cli import common
from replyd.store import conversations
from replyd.store.session import create_engine, session_factory
from tests.cli.test_cli import Cli, make_stub_assistant, plain
from tests.cli.test_cli import cli as cli  # noqa: F401  (the fixture)
from tests.servers import StubModel


def chat(cli: Cli, assistant_id: int, customer: str, *messages: str) -> str:
    result = cli("chat", str(assistant_id), "--customer", customer, input="".join(f"{m}\n" for m in messages))
    assert result.exit_code == 0, result.output
    return plain(result.stdout)


def conversation_of(cli: Cli, customer: str) -> str:
    rows = cli.query("SELECT id FROM conversations WHERE customer_identifier = ?", customer)
    assert len(rows) == 1, rows
    conversation_id: str = rows[0][0]
    return conversation_id


def terminal_width(monkeypatch: pytest.MonkeyPatch, columns: int) -> None:
    """The width Rich lays tables out in. Setting COLUMNS would not do: the console reads it
    once, when it is made, so an outer COLUMNS would win."""
    monkeypatch.setattr(common.console, "_width", columns)


def listed(cli: Cli, *filters: str) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = cli.json("conversations", "list", *filters)["data"]
    return data


def insert_conversation(
    cli: Cli, account_id: int, assistant_id: int, type: str, function_calls: list[Any] | None = None
) -> str:
    """A widget or test chat with one AI message, written through the store as the server would."""
    conversation_id = str(uuid.uuid4())

    async def insert() -> None:
        engine = create_engine(f"sqlite:///{cli.db_path}")
        try:
            async with session_factory(engine)() as session, session.begin():
                await conversations.create_conversation(
                    session,
                    conversation_id,
                    account_id=account_id,
                    assistant_id=assistant_id,
                    customer_identifier=None,
                    type=type,
                    variables={"customer_name": "Anna"},
                )
                await conversations.add_message(
                    session,
                    conversation_id,
                    author="ai",
                    content="Booked.",
                    function_calls=function_calls,
                )
        finally:
            await engine.dispose()

    asyncio.run(insert())
    return conversation_id


@pytest.fixture
def assistant_id(cli: Cli) -> int:
    return make_stub_assistant(cli, cli.json("accounts", "create", "Shop")["account_id"])


# --- list ------------------------------------------------------------------------------------


def test_list_shows_newest_activity_first(cli: Cli, assistant_id: int) -> None:
    for customer in ("anna", "bob", "carl"):
        chat(cli, assistant_id, customer, "hello")
    chat(cli, assistant_id, "anna", "me again")

    data = listed(cli)
    assert [item["customer_identifier"] for item in data] == ["anna", "carl", "bob"]
    anna = data[0]
    assert anna["id"] == conversation_of(cli, "anna")
    assert anna["message_count"] == 4
    assert anna["total_cost"] == "0.02"
    assert (anna["account_id"], anna["assistant_id"], anna["assistant_name"]) == (1, assistant_id, "Stub")
    assert (anna["type"], anna["ai_enabled"]) == ("api", True)
    assert anna["updated_at"] > data[1]["updated_at"] > data[2]["updated_at"]
    assert [item["customer_identifier"] for item in listed(cli, "--limit", "2")] == ["anna", "carl"]


def test_list_filters_by_account_assistant_customer_and_type(cli: Cli, assistant_id: int) -> None:
    other_assistant = make_stub_assistant(cli, 1)
    other_account = cli.json("accounts", "create", "Other shop")["account_id"]
    foreign_assistant = make_stub_assistant(cli, other_account)
    chat(cli, assistant_id, "anna", "hi")
    chat(cli, other_assistant, "anna", "hi")
    chat(cli, foreign_assistant, "bob", "hi")
    widget = insert_conversation(cli, 1, assistant_id, "widget")

    def customers(*filters: str) -> list[str | None]:
        return [item["customer_identifier"] for item in listed(cli, *filters)]

    assert len(listed(cli)) == 4
    assert customers("--account", str(other_account)) == ["bob"]
    assert len(listed(cli, "--account", "1")) == 3
    assert customers("--assistant", str(other_assistant)) == ["anna"]
    assert customers("--customer", "anna") == ["anna", "anna"]
    assert [item["id"] for item in listed(cli, "--type", "widget")] == [widget]
    assert len(listed(cli, "--type", "api", "--account", "1")) == 2
    assert listed(cli, "--type", "test") == []
    assert listed(cli, "--account", "99") == []


def test_list_searches_customers_variables_and_words_and_filters_by_ai_and_days(cli: Cli, assistant_id: int) -> None:
    chat(cli, assistant_id, "+49155551234", "My bicycle has a flat tyre")
    chat(cli, assistant_id, "+3161234", "Where is my parcel?")
    widget = insert_conversation(cli, 1, assistant_id, "widget")  # its variables name Anna
    assert cli("conversations", "takeover", conversation_of(cli, "+3161234")).exit_code == 0

    def customers(*filters: str) -> list[str | None]:
        return [item["customer_identifier"] for item in listed(cli, *filters)]

    assert customers("--search", "5551") == ["+49155551234"]
    assert customers("--search", "1234") == ["+3161234", "+49155551234"]
    assert customers("--search", "TYRE") == ["+49155551234"]
    assert [item["id"] for item in listed(cli, "-s", "anna")] == [widget]
    assert customers("--search", "zebra") == []
    assert customers("--search", "1234", "--ai", "off") == ["+3161234"]
    assert customers("--ai", "on", "--type", "api") == ["+49155551234"]
    assert customers("--until", "2000-01-01") == []
    assert len(listed(cli, "--since", "2000-01-01")) == 3


@pytest.mark.parametrize(
    ("options", "says"),
    [
        (["--search", "x" * 201], "--search: must be at most 200 characters (it has 201)"),
        (["--since", "2026-12-03", "--until", "2026-12-01"], "since: must not be after until"),
    ],
)
def test_a_search_it_cannot_run_says_why(cli: Cli, options: list[str], says: str) -> None:
    result = cli("conversations", "list", *options)
    assert result.exit_code == 1 and says in plain(result.stderr)


def test_list_for_people_is_a_table_marking_taken_over_conversations(
    cli: Cli, assistant_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    chat(cli, assistant_id, "anna", "hello")
    chat(cli, assistant_id, "bob", "hello")
    bob, anna = conversation_of(cli, "bob"), conversation_of(cli, "anna")
    assert cli("conversations", "takeover", bob).exit_code == 0

    terminal_width(monkeypatch, 200)
    result = cli("conversations", "list")
    assert result.exit_code == 0, result.output
    lines = [line for line in plain(result.stdout).splitlines() if line.strip()]
    assert lines[0].split() == ["id", "assistant", "customer", "type", "msgs", "last", "activity", "(UTC)", "AI"]
    rows = [line.split() for line in lines[2:]]
    assert len(rows) == 2
    assert rows[0][:6] == [bob, "Stub", f"({assistant_id})", "bob", "api", "2"]
    assert rows[0][-2:] == ["AI", "off"]
    assert rows[1][:6] == [anna, "Stub", f"({assistant_id})", "anna", "api", "2"]
    assert rows[1][-1] == "on"
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d", " ".join(rows[1][6:8]))


def test_list_in_a_narrow_terminal_keeps_ids_whole_and_the_ai_marker(
    cli: Cli, assistant_id: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    chat(cli, assistant_id, "a-long-customer-identifier", "hello")
    conversation_id = conversation_of(cli, "a-long-customer-identifier")
    cli("conversations", "takeover", conversation_id)
    terminal_width(monkeypatch, 80)
    out = plain(cli("conversations", "list").stdout)
    assert max(len(line) for line in out.splitlines()) <= 80
    row = next(line for line in out.splitlines() if conversation_id in line)
    assert row.rstrip().endswith("AI off")


def test_list_without_conversations_says_so(cli: Cli) -> None:
    result = cli("conversations", "list")
    assert result.exit_code == 0, result.output
    assert "No conversations." in plain(result.stdout)
    assert cli.json("conversations", "list") == {"data": []}


@pytest.mark.parametrize(("option", "value"), [("--type", "email"), ("--limit", "0")])
def test_list_refuses_an_invalid_filter(cli: Cli, option: str, value: str) -> None:
    result = cli("conversations", "list", option, value)
    assert result.exit_code == 2
    assert option in plain(result.stderr)


# --- show ------------------------------------------------------------------------------------


def test_show_prints_the_history_with_its_authors(cli: Cli, assistant_id: int) -> None:
    chat(cli, assistant_id, "anna", "hello")
    conversation_id = conversation_of(cli, "anna")
    cli("conversations", "say", conversation_id, "A human here.")

    result = cli("conversations", "show", conversation_id)
    assert result.exit_code == 0, result.output
    out = plain(result.stdout)
    assert f"Conversation {conversation_id} (api)" in out
    assert "customer anna; AI on" in out
    lines = [line for line in out.splitlines() if "): " in line]
    assert [line.split(" ", 2)[2] for line in lines] == [
        "customer (user): hello",
        "ai (assistant): echo: hello",
        "agent (assistant): A human here.",
    ]

    shown = cli.json("conversations", "show", conversation_id)
    assert (shown["conversation_id"], shown["customer_identifier"], shown["ai_enabled"]) == (
        conversation_id,
        "anna",
        True,
    )
    assert [(m["role"], m["author"], m["content"]) for m in shown["history"]] == [
        ("user", "customer", "hello"),
        ("assistant", "ai", "echo: hello"),
        ("assistant", "agent", "A human here."),
    ]
    assert all(m["created_at"].endswith("+00:00") for m in shown["history"])
    newest = cli.json("conversations", "show", conversation_id, "--limit", "2")
    assert [m["content"] for m in newest["history"]] == ["echo: hello", "A human here."]


def test_show_lists_function_calls_and_variables(cli: Cli, assistant_id: int) -> None:
    calls = [{"name": "book", "arguments": {"day": "[Saturday]"}, "result": {"ok": True}}]
    conversation_id = insert_conversation(cli, 1, assistant_id, "widget", function_calls=calls)

    out = plain(cli("conversations", "show", conversation_id).stdout)
    assert 'called book({"day": "[Saturday]"}) -> {"ok": true}' in out
    assert 'variables: {"customer_name": "Anna"}' in out
    assert "customer -;" in out
    assert cli.json("conversations", "show", conversation_id)["history"][0]["function_calls"] == calls


def test_text_with_brackets_is_printed_as_written(cli: Cli, assistant_id: int, monkeypatch: pytest.MonkeyPatch) -> None:
    chat(cli, assistant_id, "[bold]x[/]", "see [red]this[/]")
    conversation_id = conversation_of(cli, "[bold]x[/]")
    cli("conversations", "say", conversation_id, "[/] ok")

    shown = cli("conversations", "show", conversation_id)
    assert shown.exit_code == 0, shown.output
    out = plain(shown.stdout)
    assert "customer [bold]x[/]" in out
    assert "customer (user): see [red]this[/]" in out
    assert "agent (assistant): [/] ok" in out
    terminal_width(monkeypatch, 200)
    listing = cli("conversations", "list")
    assert listing.exit_code == 0, listing.output
    assert "[bold]x[/]" in plain(listing.stdout)


# --- taking over -----------------------------------------------------------------------------


def test_taken_over_conversation_keeps_messages_without_asking_the_model(
    cli: Cli, assistant_id: int, stub_model: StubModel
) -> None:
    chat(cli, assistant_id, "anna", "hello")
    conversation_id = conversation_of(cli, "anna")

    assert cli.json("conversations", "takeover", conversation_id) == {
        "conversation_id": conversation_id,
        "ai_enabled": False,
        "changed": True,
    }
    assert cli.query("SELECT ai_disabled FROM conversations WHERE id = ?", conversation_id) == [(1,)]

    out = chat(cli, assistant_id, "anna", "I need a person")
    assert "(AI disabled: a human will answer)" in out
    assert len(stub_model.requests) == 1
    assert cli.balance(1) == "9.99"
    of_conversation = "conversation_number = (SELECT number FROM conversations WHERE id = ?)"
    assert cli.query(f"SELECT author, content FROM messages WHERE {of_conversation} ORDER BY id", conversation_id)[
        -1
    ] == ("customer", "I need a person")


def test_takeover_and_release_are_idempotent_and_say_the_state(cli: Cli, assistant_id: int) -> None:
    chat(cli, assistant_id, "anna", "hello")
    conversation_id = conversation_of(cli, "anna")

    def run(*args: str) -> str:
        result = cli("conversations", *args, conversation_id)
        assert result.exit_code == 0, result.output
        return plain(result.stdout)

    assert f"Conversation {conversation_id}: AI disabled: a human answers.\n" == run("takeover")
    assert "AI disabled: a human answers. (It already was.)" in run("takeover")
    assert cli.query("SELECT ai_disabled FROM conversations") == [(1,)]
    assert f"Conversation {conversation_id}: AI enabled: the assistant answers again.\n" == run("release")
    assert "(It already was.)" in run("release")
    assert cli.json("conversations", "release", conversation_id)["changed"] is False
    assert cli.query("SELECT ai_disabled FROM conversations") == [(0,)]


def test_operator_message_is_uncharged_and_the_model_sees_it_after_release(
    cli: Cli, assistant_id: int, stub_model: StubModel
) -> None:
    chat(cli, assistant_id, "anna", "hello")
    conversation_id = conversation_of(cli, "anna")
    cli("conversations", "takeover", conversation_id)
    chat(cli, assistant_id, "anna", "Can a human help?")
    before = cli.query("SELECT updated_at FROM conversations")

    said = cli.json("conversations", "say", conversation_id, "Sure, I'm Eva from support.")
    assert said["conversation_id"] == conversation_id
    assert (said["message"]["role"], said["message"]["author"]) == ("assistant", "agent")
    assert cli.query("SELECT cost_micros FROM messages WHERE author = 'agent'") == [(0,)]
    assert cli.query("SELECT count(*) FROM ledger_entries WHERE kind = 'reply'") == [(1,)]
    assert cli.balance(1) == "9.99"
    assert cli.query("SELECT updated_at FROM conversations") > before

    cli("conversations", "release", conversation_id)
    out = chat(cli, assistant_id, "anna", "Thanks Eva")
    assert "Stub: echo: Thanks Eva" in out
    turns = [(m["role"], m["content"]) for m in stub_model.requests[-1]["messages"] if m["role"] != "system"]
    assert turns == [
        ("user", "hello"),
        ("assistant", "echo: hello"),
        ("user", "Can a human help?"),
        ("assistant", "Sure, I'm Eva from support."),
        ("user", "Thanks Eva"),
    ]


def test_say_for_people_confirms_and_refuses_a_blank_message(cli: Cli, assistant_id: int) -> None:
    chat(cli, assistant_id, "anna", "hello")
    conversation_id = conversation_of(cli, "anna")
    result = cli("conversations", "say", conversation_id, "Hi!")
    assert result.exit_code == 0, result.output
    assert f"Stored your message in conversation {conversation_id}." in plain(result.stdout)

    blank = cli("conversations", "say", conversation_id, "   ")
    assert blank.exit_code == 1
    assert "message: must not be blank" in plain(blank.stderr)
    assert cli.query("SELECT count(*) FROM messages WHERE author = 'agent'") == [(1,)]


def test_say_refuses_a_message_over_the_servers_limit(cli: Cli, assistant_id: int) -> None:
    chat(cli, assistant_id, "anna", "hello")
    cli.env["REPLYD_MAX_MESSAGE_CHARS"] = "5"
    result = cli("conversations", "say", conversation_of(cli, "anna"), "too long")
    assert result.exit_code == 1
    assert "at most 5 characters (it has 8)" in plain(result.stderr)
    assert cli.query("SELECT count(*) FROM messages WHERE author = 'agent'") == [(0,)]


@pytest.mark.parametrize(
    "args",
    [["show", "nope"], ["takeover", "nope"], ["release", "nope"], ["say", "nope", "hi"], ["show", "nope", "--json"]],
)
def test_unknown_conversation_exits_1_naming_it(cli: Cli, assistant_id: int, args: list[str]) -> None:
    chat(cli, assistant_id, "anna", "hello")
    result = cli("conversations", *args)
    assert result.exit_code == 1
    assert "Conversation nope was not found in any account" in plain(result.stderr)
    assert result.stdout == ""
    assert cli.query("SELECT count(*), max(ai_disabled) FROM conversations") == [(1, 0)]
    assert cli.query("SELECT count(*) FROM messages") == [(2,)]
