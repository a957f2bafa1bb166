"""``replyd webhooks``: an operator adds an account's endpoint from the command line, a human
agent's message stored by ``replyd conversations say`` reaches it through the serving
process's delivery loop, and the deliveries can be listed and replayed."""

import time
from collections.abc import Callable
from typing import Any

import httpx

from tests.cli.test_cli import Cli, make_stub_assistant, plain
from tests.cli.test_cli import cli as cli  # noqa: F401  (the fixture)
from tests.cli.test_cli import live_server as live_server  # noqa: F401  (the fixture)
from tests.cli.test_conversations_cli import chat, conversation_of
from tests.servers import EventReceiver


def until(condition: Callable[[], bool], timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "the events did not arrive"
        time.sleep(0.1)


def test_an_agents_message_said_on_the_command_line_reaches_the_endpoint(
    cli: Cli, live_server: httpx.Client, receiver: tuple[EventReceiver, str]
) -> None:
    inbox, url = receiver
    account_id = cli.json("accounts", "create", "shop")["account_id"]
    assistant_id = make_stub_assistant(cli, account_id)
    added = cli.json("webhooks", "add", str(account_id), url, "--events", "message.created")
    inbox.secret = added["secret"]
    assert added["events"] == ["message.created"]
    chat(cli, assistant_id, "anna", "Where is my parcel?")
    conversation_id = conversation_of(cli, "anna")
    assert cli("conversations", "say", conversation_id, "It left today. Anna, from the shop").exit_code == 0

    until(lambda: any(p["data"]["message"]["author"] == "agent" for p in inbox.payloads()))
    [agent] = [p for p in inbox.payloads() if p["data"]["message"]["author"] == "agent"]
    assert agent["data"]["message"]["content"] == "It left today. Anna, from the shop"
    assert agent["data"]["conversation"]["customer_identifier"] == "anna"

    def delivery() -> dict[str, Any]:
        listed = cli.json("webhooks", "deliveries", str(added["endpoint_id"]))["data"]
        return next(d for d in listed if d["event_id"] == agent["id"])

    until(lambda: delivery()["status"] != "pending")  # settled by the delivery loop's next round
    assert (delivery()["status"], delivery()["last_status_code"]) == ("delivered", 200)
    delivery_id = delivery()["delivery_id"]
    replayed = cli.json("webhooks", "replay", str(delivery_id))
    assert replayed["replay_of"] == delivery_id
    until(lambda: [p["id"] for p in inbox.payloads()].count(agent["id"]) == 2)


def test_endpoints_are_listed_and_removed_and_mistakes_are_named(cli: Cli) -> None:
    account_id = cli.json("accounts", "create", "shop")["account_id"]
    first = cli.json("webhooks", "add", str(account_id), "https://hooks.example.com/a")
    cli.json("webhooks", "add", str(account_id), "https://hooks.example.com/b", "--events", "conversation.ai_disabled")
    listed = cli.json("webhooks", "list", str(account_id))["data"]
    assert [(e["url"], e["events"]) for e in listed] == [
        ("https://hooks.example.com/a", []),
        ("https://hooks.example.com/b", ["conversation.ai_disabled"]),
    ]
    table = plain(cli("webhooks", "list", str(account_id)).stdout)
    assert "hooks.example.com/b" in table and "conversation.ai_disabled" in table
    assert listed[0]["failing_since"] is None

    cli.query("UPDATE event_endpoints SET enabled = 0, disabled_reason = 'gone' WHERE id = ?", first["endpoint_id"])
    enabled = cli.json("webhooks", "enable", str(first["endpoint_id"]))
    assert (enabled["enabled"], enabled["disabled_reason"]) == (True, None)
    assert "is enabled" in plain(cli("webhooks", "enable", str(first["endpoint_id"])).stdout)

    assert cli.json("webhooks", "remove", str(first["endpoint_id"]))["removed"] is True
    again = cli("webhooks", "remove", str(first["endpoint_id"]))
    assert again.exit_code == 1 and f"There is no endpoint {first['endpoint_id']}" in plain(again.stderr)

    unknown_type = cli("webhooks", "add", str(account_id), "https://hooks.example.com/c", "--events", "message.deleted")
    assert unknown_type.exit_code == 1 and "unknown event types: message.deleted" in plain(unknown_type.stderr)
    bad_url = cli("webhooks", "add", str(account_id), "ftp://hooks.example.com/c")
    assert bad_url.exit_code == 1 and "url: must be an http or https URL" in plain(bad_url.stderr)
    no_account = cli("webhooks", "list", "999")
    assert no_account.exit_code == 1 and "There is no account 999" in plain(no_account.stderr)
