"""Console pages over plain HTTP: another account's things answer 404 and stay unchanged,
the assistant form shows problems beside their fields, the 'try it' chat and the usage page
read what the API reads."""

import asyncio
import html
import re
import threading
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from replyd.services.conversations import HISTORY_LIMIT
from replyd.store import conversations
from tests.conftest import Tenant
from tests.console.conftest import Console
from tests.servers import Scripted, StubModel


async def test_another_accounts_conversation_answers_404_and_cannot_be_changed(
    make_tenant: Callable[..., Any], open_console: Callable[..., Any]
) -> None:
    mine: Tenant = await make_tenant()
    theirs: Tenant = await make_tenant()
    conversation_id = (await theirs.reply("private")).json()["conversation_id"]
    console: Console = await open_console(mine)
    path = f"/console/conversations/{conversation_id}"
    for response in (
        await console.client.get(path),
        await console.client.get(f"{path}/live", headers={"X-Console-Fragment": "1"}),
        await console.post(f"{path}/take-over"),
        await console.post(f"{path}/messages", {"message": "hi from elsewhere"}),
        await console.post(f"{path}/typing"),
    ):
        assert response.status_code == 404
        assert "private" not in response.text
    never_existed = await console.client.get("/console/conversations/00000000-0000-4000-8000-000000000000")
    assert never_existed.status_code == 404
    assert (await console.client.get(path)).text == never_existed.text.replace(
        "00000000-0000-4000-8000-000000000000", conversation_id
    )
    state = (await theirs.client.get(f"/api/conversations/{conversation_id}")).json()
    assert state["ai_enabled"] is True and len(state["history"]) == 2


async def test_another_accounts_assistant_answers_404(
    make_tenant: Callable[..., Any], open_console: Callable[..., Any]
) -> None:
    mine: Tenant = await make_tenant()
    theirs: Tenant = await make_tenant()
    console: Console = await open_console(mine)
    path = f"/console/assistants/{theirs.assistant_id}"
    assert (await console.client.get(path)).status_code == 404
    assert (await console.post(path, {"name": "hijacked"})).status_code == 404
    assert (await console.post(f"{path}/try", {"message": "hi"})).status_code == 404
    assert (await console.client.get("/console/assistants/not-a-number")).status_code == 404
    assert (await console.client.get(f"/console/assistants/{2**70}")).status_code == 404
    assert (await theirs.client.get(f"/api/assistants/{theirs.assistant_id}")).json()["assistant"]["name"] != "hijacked"


async def test_the_list_shows_only_this_accounts_conversations_filtered_by_assistant_and_searched(
    make_tenant: Callable[..., Any], open_console: Callable[..., Any]
) -> None:
    mine: Tenant = await make_tenant()
    theirs: Tenant = await make_tenant()
    await mine.reply("first", customer="+4911")
    await mine.reply("second", customer="+4922")
    await theirs.reply("elsewhere", customer="+4933")
    console: Console = await open_console(mine)
    everything = (await console.client.get("/console/conversations")).text
    assert "+4911" in everything and "+4922" in everything and "+4933" not in everything
    assert everything.index("+4922") < everything.index("+4911"), "newest activity first"
    filtered = (await console.client.get("/console/conversations", params={"q": "911"})).text
    assert "+4911" in filtered and "+4922" not in filtered
    by_word = (await console.client.get("/console/conversations", params={"q": "SECOND", "ai": "on"})).text
    assert "+4922" in by_word and "+4911" not in by_word
    assert "+4933" not in (await console.client.get("/console/conversations", params={"q": "elsewhere"})).text
    other_assistant = (await console.client.get("/console/conversations", params={"assistant": "999999"})).text
    assert "+4911" not in other_assistant and "No conversation matches with these filters" in other_assistant
    nothing = (await console.client.get("/console/conversations", params={"q": "zebra"})).text
    assert "No conversation matches “zebra”." in nothing
    rows = await console.client.get(
        "/console/conversations/rows", params={"assistant": str(mine.assistant_id)}, headers={"X-Console-Fragment": "1"}
    )
    assert "+4911" in rows.text and "<html" not in rows.text


async def test_an_empty_agent_message_is_refused_beside_the_box(
    tenant: Tenant, open_console: Callable[..., Any]
) -> None:
    conversation_id = (await tenant.reply("Hello")).json()["conversation_id"]
    console: Console = await open_console(tenant)
    response = await console.post(f"/console/conversations/{conversation_id}/messages", {"message": "   "})
    assert response.status_code == 422 and "The message must not be blank." in response.text
    history = (await tenant.client.get(f"/api/conversations/{conversation_id}")).json()["history"]
    assert len(history) == 2


async def test_an_agent_message_from_the_console_is_stored_as_the_api_stores_it(
    tenant: Tenant, open_console: Callable[..., Any], snapshot: Any
) -> None:
    conversation_id = (await tenant.reply("Hello")).json()["conversation_id"]
    console: Console = await open_console(tenant)
    before = await snapshot(tenant.account_id)
    response = await console.post(f"/console/conversations/{conversation_id}/messages", {"message": "Line 1\r\nLine 2"})
    assert response.status_code == 303
    last = (await tenant.client.get(f"/api/conversations/{conversation_id}")).json()["history"][-1]
    assert (last["role"], last["author"], last["content"]) == ("assistant", "agent", "Line 1\nLine 2")
    assert (await snapshot(tenant.account_id)).balance_micros == before.balance_micros, "agents are never charged"


@pytest.mark.parametrize(
    ("field", "value", "shown"),
    [
        ("functions", "[{not json", "This is not valid JSON"),
        ("functions", '[{"name": "x", "url": "ftp://nope"}]', "0.url:"),
        ("functions", '[{"name": "x", "url": "https://e.com", "description": "\\ud800"}]', "valid Unicode text"),
        ("functions", "[" * 2000 + "]" * 2000, "nested deeper than 64 levels"),
        ("temperature", "7", "less than or equal to 2"),
        ("model", "mystery:model", "model"),
        ("name", "", "name"),
        ("handoff_triggers", "agent\n(unclosed", "&#39;(unclosed&#39; is not a regular expression"),
        ("resume_ai_after_s", "0", "greater than or equal to 1"),
    ],
)
async def test_the_assistant_form_shows_validation_problems_beside_their_field(
    tenant: Tenant, open_console: Callable[..., Any], field: str, value: str, shown: str
) -> None:
    console: Console = await open_console(tenant)
    form = {"name": "Console-made", "model": "openai:stub-model", field: value}
    response = await console.post("/console/assistants", form)
    assert response.status_code == 422
    assert f'id="error-{field}"' in response.text and shown in response.text
    assert f'id="f-{field}"' in response.text and 'aria-invalid="true"' in response.text
    listed = (await tenant.client.get("/api/assistants")).json()["data"]
    assert [a["name"] for a in listed] == ["Test assistant"], "nothing was saved"


async def test_broken_functions_json_and_other_problems_are_shown_together(
    tenant: Tenant, open_console: Callable[..., Any]
) -> None:
    console: Console = await open_console(tenant)
    form = {"name": "X", "model": "openai:stub-model", "functions": "[{", "temperature": "9"}
    response = await console.post(f"/console/assistants/{tenant.assistant_id}", form)
    assert response.status_code == 422
    assert 'id="error-functions"' in response.text and 'id="error-temperature"' in response.text
    assert "[{" in response.text, "what was typed is kept"


async def test_an_assistant_made_and_edited_in_the_console_is_what_the_api_returns(
    tenant: Tenant, open_console: Callable[..., Any]
) -> None:
    console: Console = await open_console(tenant)
    functions = '[{"name": "hours", "url": "https://example.com/hours", "description": "Opening hours"}]'
    created = await console.post(
        "/console/assistants",
        {"name": "Made here", "model": "openai:stub-model", "functions": functions, "handoff_enabled": "on"},
    )
    assert created.status_code == 303
    assistant_id = int(created.headers["location"].split("/")[-1].split("?")[0])
    api = (await tenant.client.get(f"/api/assistants/{assistant_id}")).json()["assistant"]
    assert api["functions"][0]["name"] == "hours" and api["handoff_enabled"] is True
    assert api["temperature"] == 0.7, "an empty number keeps its default"
    page = (await console.client.get(f"/console/assistants/{assistant_id}")).text
    edited = await console.post(
        f"/console/assistants/{assistant_id}",
        {"name": "Renamed", "model": "openai:stub-model", "temperature": "0.2", "functions": ""},
    )
    assert edited.status_code == 303 and "hours" in page
    api = (await tenant.client.get(f"/api/assistants/{assistant_id}")).json()["assistant"]
    assert (api["name"], api["temperature"], api["functions"], api["handoff_enabled"]) == ("Renamed", 0.2, [], False)


async def test_the_assistant_form_saves_handoff_triggers_one_per_line_and_the_resume_time(
    tenant: Tenant, open_console: Callable[..., Any]
) -> None:
    console: Console = await open_console(tenant)
    path = f"/console/assistants/{tenant.assistant_id}"
    form = {"name": "Test assistant", "handoff_triggers": "agent\n\n  \\bhuman\\b  \n", "resume_ai_after_s": "600"}
    assert (await console.post(path, form)).status_code == 303
    api = (await tenant.client.get(f"/api/assistants/{tenant.assistant_id}")).json()["assistant"]
    assert (api["handoff_triggers"], api["resume_ai_after_s"]) == (["agent", "\\bhuman\\b"], 600)
    page = (await console.client.get(path)).text
    assert ">agent\n\\bhuman\\b</textarea>" in page and 'value="600"' in page
    assert "The AI comes back after this many seconds without a human message; empty: never." in page

    assert (await console.post(path, {"name": "Test assistant", "resume_ai_after_s": ""})).status_code == 303
    api = (await tenant.client.get(f"/api/assistants/{tenant.assistant_id}")).json()["assistant"]
    assert (api["handoff_triggers"], api["resume_ai_after_s"]) == (["agent", "\\bhuman\\b"], None)


async def test_try_it_talks_to_the_assistant_as_a_test_customer(
    tenant: Tenant, open_console: Callable[..., Any], stub_model: StubModel
) -> None:
    console: Console = await open_console(tenant)
    stub_model.enqueue("Hi tester!", "Still here.")
    first = await console.post(f"/console/assistants/{tenant.assistant_id}/try", {"message": "Hello?"})
    assert first.status_code == 303
    chat_id = first.headers["location"].split("chat=")[1].split("#")[0]
    second = await console.post(f"/console/assistants/{tenant.assistant_id}/try", {"message": "More?", "chat": chat_id})
    assert second.headers["location"] == first.headers["location"], "the same test chat goes on"
    page = (await console.client.get(first.headers["location"])).text
    assert page.index("Hello?") < page.index("Hi tester!") < page.index("More?") < page.index("Still here.")
    conversation = (await tenant.client.get(f"/api/conversations/{chat_id}")).json()
    assert conversation["type"] == "test" and [h["author"] for h in conversation["history"]] == [
        "customer",
        "ai",
        "customer",
        "ai",
    ]
    assert stub_model.requests[-1]["messages"][-1]["content"] == "More?"


async def test_try_it_shows_a_refused_reply_beside_the_chat(
    make_tenant: Callable[..., Any], open_console: Callable[..., Any]
) -> None:
    broke: Tenant = await make_tenant(balance="0")
    console: Console = await open_console(broke)
    response = await console.post(f"/console/assistants/{broke.assistant_id}/try", {"message": "Hello?"})
    assert response.status_code == 402
    assert 'id="try-error"' in response.text and "top up" in response.text


async def test_the_usage_page_shows_the_balance_and_spend_per_day_and_assistant(
    tenant: Tenant, open_console: Callable[..., Any]
) -> None:
    await tenant.reply("one")
    await tenant.reply("two")
    console: Console = await open_console(tenant)
    page = (await console.client.get("/console/usage")).text
    account = (await tenant.client.get("/api/account")).json()
    assert f"{account['balance']} EUR" in page
    assert page.count('<svg class="chart"') == 2
    assert "Test assistant: 0.02 EUR, 2 replies" in page


async def test_a_form_too_large_or_holding_a_nul_character_is_refused(
    tenant: Tenant, open_console: Callable[..., Any]
) -> None:
    conversation_id = (await tenant.reply("Hello")).json()["conversation_id"]
    console: Console = await open_console(tenant)
    path = f"/console/conversations/{conversation_id}/messages"
    assert (await console.post(path, {"message": "x" * 300_000})).status_code == 413
    assert (await console.post(path, {"message": "a\x00b"})).status_code == 400
    assert len((await tenant.client.get(f"/api/conversations/{conversation_id}")).json()["history"]) == 2


async def test_a_conversation_shows_a_message_the_ai_is_answering_and_one_it_could_not(
    tenant: Tenant, open_console: Callable[..., Any], stub_model: StubModel
) -> None:
    stub_model.enqueue(Scripted(status=500))
    failed = await tenant.reply("Where is my order?", customer="c-console")
    assert failed.status_code == 502
    stub_model.wait_for_request()  # takes the failed call's arrival, so the wait below is for the retry's
    conversation_id = (await tenant.client.get("/api/user/conversations")).json()["data"][0]["id"]
    console: Console = await open_console(tenant)
    page = (await console.client.get(f"/console/conversations/{conversation_id}")).text
    assert "Not answered" in page and "HTTP 500" in page

    gate = threading.Event()
    stub_model.enqueue(Scripted(text="It ships today.", gate=gate))
    answering = asyncio.create_task(tenant.reply("Where is my order?", customer="c-console"))
    try:
        await asyncio.to_thread(stub_model.wait_for_request)
        page = (await console.client.get(f"/console/conversations/{conversation_id}")).text
        assert "AI answering" in page and "Not answered" not in page
    finally:
        gate.set()
    assert (await answering).status_code == 200
    page = (await console.client.get(f"/console/conversations/{conversation_id}")).text
    assert "AI answering" not in page and "It ships today." in page


async def test_an_assistant_is_deleted_from_its_page_its_conversations_only_when_asked(
    tenant: Tenant, stub_model: StubModel, open_console: Callable[..., Any], make_tenant: Callable[..., Any]
) -> None:
    console: Console = await open_console(tenant)
    assistant_id = (await tenant.client.post("/api/assistants", json={"name": "Spare"})).json()["assistant"]["id"]
    stub_model.enqueue("Hello!")
    assert (await tenant.reply(assistant_id=assistant_id)).status_code == 200
    path = f"/console/assistants/{assistant_id}/delete"

    kept = await console.post(path)
    assert kept.status_code == 409 and "It has conversations" in kept.text
    assert (await tenant.client.get(f"/api/assistants/{assistant_id}")).status_code == 200
    theirs: Tenant = await make_tenant()
    assert (
        await console.post(f"/console/assistants/{theirs.assistant_id}/delete", {"erase_conversations": "on"})
    ).status_code == 404
    assert (await theirs.client.get(f"/api/assistants/{theirs.assistant_id}")).status_code == 200

    deleted = await console.post(path, {"erase_conversations": "on"})
    assert (deleted.status_code, deleted.headers["location"]) == (303, "/console/assistants?deleted=1")
    assert (await tenant.client.get(f"/api/assistants/{assistant_id}")).status_code == 404
    assert [c["assistant_id"] for c in (await tenant.client.get("/api/user/conversations")).json()["data"]] == []
    assert "Assistant deleted." in (await console.client.get("/console/assistants?deleted=1")).text


async def test_a_long_conversation_opens_at_its_end_and_pages_back(
    make_tenant: Callable[..., Any], open_console: Callable[..., Any], db: async_sessionmaker[AsyncSession]
) -> None:
    tenant: Tenant = await make_tenant(reply_fee="0.01")
    conversation_id = (await tenant.reply("first words")).json()["conversation_id"]
    async with db() as session, session.begin():
        for n in range(HISTORY_LIMIT):
            await conversations.add_message(session, conversation_id, author="customer", content=f"n{n}!")
    console: Console = await open_console(tenant)
    latest = (await console.client.get(f"/console/conversations/{conversation_id}")).text
    assert "n0!" in latest and f"n{HISTORY_LIMIT - 1}!" in latest and "first words" not in latest
    assert re.search(r"<dt>Messages</dt><dd>102</dd>", latest) and "0.01 EUR" in latest
    earlier = re.search(r'href="(/console/conversations/[^"]+\?older=[^"]+)"', latest)
    assert earlier, "the latest page links to the earlier messages"
    before = (await console.client.get(html.unescape(earlier.group(1)))).text
    assert "first words" in before and "n0!" not in before and "Latest messages" in before
    assert "Earlier messages" not in before
