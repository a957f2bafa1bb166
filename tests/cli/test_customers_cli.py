"""``replyd customers erase`` and ``replyd accounts retention``: an operator erasing a customer
on request, and setting how long an account keeps its conversations. Conversations come from
``replyd chat`` on the stub model."""

import json

from tests.cli.test_cli import Cli, make_stub_assistant, plain
from tests.cli.test_cli import cli as cli  # noqa: F401  (the fixture)
from tests.cli.test_conversations_cli import chat


def test_erasing_a_customer_asks_first_and_then_erases_every_conversation_of_theirs(cli: Cli) -> None:
    account_id = cli.json("accounts", "create", "Shop")["account_id"]
    first, second = make_stub_assistant(cli, account_id), make_stub_assistant(cli, account_id)
    chat(cli, first, "anna@example.com", "My address is Hauptstr. 1")
    chat(cli, second, "anna@example.com", "Hello again")
    chat(cli, first, "ben@example.com", "Hi")

    declined = cli("customers", "erase", str(account_id), "anna@example.com", input="n\n")
    assert declined.exit_code == 1
    assert "has 2 conversations with anna@example.com" in plain(declined.output)
    assert len(cli.query("SELECT id FROM conversations WHERE customer_identifier = 'anna@example.com'")) == 2

    erased = cli("customers", "erase", str(account_id), "anna@example.com", input="y\n")
    assert erased.exit_code == 0, erased.output
    assert "Erased 2 conversations of anna@example.com in account" in plain(erased.stdout)
    assert "(4 messages); 2 ledger entries no longer name them." in plain(erased.stdout)
    assert cli.query("SELECT count(*) FROM messages WHERE content LIKE '%Hauptstr%'") == [(0,)]
    assert cli.query("SELECT count(*) FROM conversations WHERE customer_identifier = 'ben@example.com'") == [(1,)]
    assert cli.query("SELECT count(*) FROM ledger_entries WHERE kind = 'reply'") == [(3,)]


def test_erasing_with_yes_asks_nothing_and_json_prints_what_was_erased(cli: Cli) -> None:
    account_id = cli.json("accounts", "create", "Shop")["account_id"]
    assistant_id = make_stub_assistant(cli, account_id)
    chat(cli, assistant_id, "+49155550100", "Hi")
    [(conversation_id,)] = cli.query("SELECT id FROM conversations")

    erased = cli("customers", "erase", str(account_id), "+49155550100", "--yes", "--json")
    assert erased.exit_code == 0, erased.output
    assert json.loads(erased.stdout) == {
        "account_id": account_id,
        "customer_identifier": "+49155550100",
        "conversation_ids": [conversation_id],
        "messages": 2,
        "ledger_entries_anonymised": 1,
    }
    again = cli.json("customers", "erase", str(account_id), "+49155550100", "--yes")
    assert (again["conversation_ids"], again["messages"]) == ([], 0)
    missing = cli("customers", "erase", "999", "+49155550100", "--yes")
    assert missing.exit_code == 1 and "There is no account 999" in plain(missing.output)


def test_a_retention_is_set_shown_and_turned_off(cli: Cli) -> None:
    account_id = cli.json("accounts", "create", "Shop")["account_id"]
    assert cli.json("accounts", "retention", str(account_id), "90") == {
        "account_id": account_id,
        "conversation_retention_days": 90,
    }
    assert cli.json("accounts", "show", str(account_id))["conversation_retention_days"] == 90
    assert "conversations erased after 90 idle days" in plain(cli("accounts", "show", str(account_id)).stdout)
    assert cli.json("accounts", "retention", str(account_id), "off")["conversation_retention_days"] is None
    for bad, says in [("soon", "is not a number of days"), ("0", "from 1 to 36500")]:
        refused = cli("accounts", "retention", str(account_id), bad)
        assert refused.exit_code == 1 and says in plain(refused.output), refused.output
