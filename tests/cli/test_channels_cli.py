"""``replyd channels``: an operator makes a key, connects an assistant to Telegram and Twilio
from the command line, lists and removes the channels; mistakes are named."""

from cryptography.fernet import Fernet

from tests.cli.test_cli import Cli, make_stub_assistant
from tests.cli.test_cli import cli as cli  # noqa: F401  (the fixture)

BOT_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"


def keyed(cli: Cli) -> str:
    """Make a key with ``replyd channels keygen`` and give it to the commands that follow."""
    result = cli("channels", "keygen")
    assert result.exit_code == 0, result.output
    key = result.stdout.strip()
    Fernet(key.encode())  # a key, or this raises
    cli.env["REPLYD_CHANNEL_KEY"] = key
    return key


def test_channels_are_added_listed_and_removed(cli: Cli) -> None:
    keyed(cli)
    account_id = cli.json("accounts", "create", "shop")["account_id"]
    assistant_id = make_stub_assistant(cli, account_id)
    telegram = cli.json("channels", "add", str(assistant_id), "telegram", "-c", f"bot_token={BOT_TOKEN}")
    assert telegram["inbound_path"] == f"/channels/{telegram['channel_id']}/telegram"
    assert len(telegram["inbound_secret"]) >= 40
    twilio = cli.json(
        "channels", "add", str(assistant_id), "twilio",
        "-c", "account_sid=AC" + "f" * 32, "-c", "auth_token=secret", "-c", "from_number=+15005550006",
    )  # fmt: skip
    assert twilio["inbound_secret"] is None
    [(stored,)] = cli.query("SELECT credentials FROM channels WHERE kind = 'telegram'")
    assert BOT_TOKEN not in stored

    listed = cli.json("channels", "list", "--account", str(account_id))["data"]
    assert [(c["kind"], c["assistant_id"]) for c in listed] == [("telegram", assistant_id), ("twilio", assistant_id)]
    assert "inbound_secret" not in listed[0]
    plain = cli("channels", "list")
    assert plain.exit_code == 0 and "/channels/" in plain.stdout

    assert cli.json("channels", "remove", str(telegram["channel_id"]))["removed"] is True
    again = cli("channels", "remove", str(telegram["channel_id"]))
    assert again.exit_code != 0 and f"There is no channel {telegram['channel_id']}" in again.output
    assert [c["kind"] for c in cli.json("channels", "list")["data"]] == ["twilio"]


def test_mistakes_are_named(cli: Cli) -> None:
    account_id = cli.json("accounts", "create", "shop")["account_id"]
    assistant_id = make_stub_assistant(cli, account_id)
    no_key = cli("channels", "add", str(assistant_id), "telegram", "-c", f"bot_token={BOT_TOKEN}")
    assert no_key.exit_code != 0 and "replyd channels keygen" in no_key.output
    keyed(cli)
    wrong = cli("channels", "add", str(assistant_id), "telegram", "-c", "bot_token=nope")
    assert wrong.exit_code != 0 and "credentials.bot_token" in wrong.output
    unpaired = cli("channels", "add", str(assistant_id), "telegram", "-c", "bot_token")
    assert unpaired.exit_code != 0 and "NAME=VALUE" in unpaired.output
    assert cli.json("channels", "list")["data"] == []
