"""Handoffs in the console: listed apart from takeovers, filtered by "needs a human" until an
agent answers, explained on the conversation's page, and counted in every page's navigation."""

import re
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from replyd.console import conversation_list
from replyd.store.tables import Conversation
from tests.conftest import Tenant
from tests.console.conftest import Console
from tests.servers import Scripted, StubModel

WAITING = {"needs_human": "1"}


async def handoff_tenant(make_tenant: Callable[..., Any]) -> Tenant:
    """An assistant that hands off by its model's call, and by the trigger "agent"."""
    tenant: Tenant = await make_tenant(handoff_enabled=True, handoff_triggers=["agent"])
    return tenant


async def handed_off_by_model(tenant: Tenant, stub_model: StubModel, customer: str, reason: str) -> str:
    stub_model.enqueue(Scripted(tool_calls=[("handoff_to_human", {"reason": reason})]))
    answer = (await tenant.reply("I want my money back", customer=customer)).json()
    assert answer["ai_disabled"] is True
    conversation_id: str = answer["conversation_id"]
    return conversation_id


async def handed_off_by_rule(tenant: Tenant, customer: str) -> str:
    answer = (await tenant.reply("An agent, please", customer=customer)).json()
    assert answer["ai_disabled"] is True
    conversation_id: str = answer["conversation_id"]
    return conversation_id


async def taken_over(tenant: Tenant, console: Console, customer: str) -> str:
    conversation_id: str = (await tenant.reply("Hello", customer=customer)).json()["conversation_id"]
    assert (await console.post(f"/console/conversations/{conversation_id}/take-over")).status_code == 303
    return conversation_id


def row_of(page: str, customer: str) -> str:
    """The list's row for ``customer``."""
    rows = [row for row in page.split("<li>") if f'<span class="row-customer">{customer}</span>' in row]
    assert len(rows) == 1, f"{customer} is listed {len(rows)} times"
    return rows[0]


def listed(page: str) -> list[str]:
    return re.findall(r'<span class="row-customer">([^<]*)</span>', page)


async def test_the_filter_lists_only_handoffs_no_human_answered_yet(
    make_tenant: Callable[..., Any], open_console: Callable[..., Any], stub_model: StubModel
) -> None:
    tenant = await handoff_tenant(make_tenant)
    console: Console = await open_console(tenant)
    handed = await handed_off_by_rule(tenant, "+4901")
    await handed_off_by_model(tenant, stub_model, "+4902", "asks for a refund")
    await tenant.reply("Just a question", customer="+4903")
    await taken_over(tenant, console, "+4904")

    page = (await console.client.get("/console/conversations", params=WAITING)).text
    assert listed(page) == ["+4902", "+4901"]
    assert 'name="needs_human" value="1" checked' in page
    rows = await console.client.get("/console/conversations/rows", params=WAITING, headers={"X-Console-Fragment": "1"})
    assert listed(rows.text) == ["+4902", "+4901"]
    assert 'data-live-src="/console/conversations/rows?needs_human=1"' in page, "live updates keep the filter"

    answered = await console.post(f"/console/conversations/{handed}/messages", {"message": "Hi, Anna here."})
    assert answered.status_code == 303
    page = (await console.client.get("/console/conversations", params=WAITING)).text
    assert listed(page) == ["+4902"]
    assert listed((await console.client.get("/console/conversations")).text) == ["+4901", "+4904", "+4903", "+4902"]


async def test_the_filter_combines_with_the_others_and_pages(
    make_tenant: Callable[..., Any], open_console: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(conversation_list, "PAGE_SIZE", 1)
    tenant = await handoff_tenant(make_tenant)
    console: Console = await open_console(tenant)
    for customer in ("+4911", "+4912"):
        await handed_off_by_rule(tenant, customer)
    await tenant.reply("Not handed off", customer="+4913")

    first = (await console.client.get("/console/conversations", params=WAITING)).text
    assert listed(first) == ["+4912"]
    next_page = re.search(r'<a href="(/console/conversations\?[^"]+)" rel="next">Older conversations', first)
    assert next_page and "needs_human=1" in next_page.group(1)
    second = (await console.client.get(next_page.group(1).replace("&amp;", "&"))).text
    assert listed(second) == ["+4911"] and "Older conversations" not in second

    one_customer = (await console.client.get("/console/conversations", params=WAITING | {"q": "+4911"})).text
    assert listed(one_customer) == ["+4911"]
    elsewhere = {"assistant": "999999"} | WAITING
    assert (
        "No conversation is waiting for a human that matches the filter"
        in (await console.client.get("/console/conversations", params=elsewhere)).text
    )


async def test_a_handoff_and_a_takeover_have_badges_of_their_own(
    make_tenant: Callable[..., Any],
    open_console: Callable[..., Any],
    stub_model: StubModel,
    db: async_sessionmaker[AsyncSession],
) -> None:
    tenant = await handoff_tenant(make_tenant)
    console: Console = await open_console(tenant)
    by_model = await handed_off_by_model(tenant, stub_model, "+4921", "asks for a refund")
    await handed_off_by_rule(tenant, "+4922")
    await taken_over(tenant, console, "+4923")
    older = (await tenant.reply("From before handoffs", customer="+4924")).json()["conversation_id"]
    async with db() as session, session.begin():  # as migration 0011 left an AI switched off before it
        await session.execute(update(Conversation).where(Conversation.id == older).values(ai_disabled=True))
    await tenant.reply("Still chatting", customer="+4925")

    page = (await console.client.get("/console/conversations")).text
    model_row = row_of(page, "+4921")
    assert 'class="badge badge-handoff badge-waiting"' in model_row and 'title="asks for a refund"' in model_row
    assert "Handoff · needs a human" in model_row and "Taken over" not in model_row
    rule_row = row_of(page, "+4922")
    assert "Handoff · needs a human" in rule_row and "matched the handoff trigger" in rule_row
    for customer in ("+4923", "+4924"):
        assert "Taken over" in row_of(page, customer) and "Handoff" not in row_of(page, customer)
    assert 'data-ai-state="off"' not in row_of(page, "+4925")

    await console.post(f"/console/conversations/{by_model}/messages", {"message": "I can help with that."})
    answered = row_of((await console.client.get("/console/conversations")).text, "+4921")
    assert '"badge badge-handoff"' in answered and "needs a human" not in answered


async def test_the_conversation_page_says_who_handed_off_and_why(
    make_tenant: Callable[..., Any], open_console: Callable[..., Any], stub_model: StubModel
) -> None:
    tenant = await handoff_tenant(make_tenant)
    console: Console = await open_console(tenant)
    by_model = await handed_off_by_model(tenant, stub_model, "+4931", "asks for a refund")
    by_rule = await handed_off_by_rule(tenant, "+4932")
    by_operator = await taken_over(tenant, console, "+4933")

    page = (await console.client.get(f"/console/conversations/{by_model}")).text
    assert "<strong>Waiting for a human:</strong> asks for a refund" in page
    assert "Handed off by the model." in page and "handed this customer to a human" in page
    rule_page = (await console.client.get(f"/console/conversations/{by_rule}")).text
    assert "Waiting for a human:" in rule_page and "Handed off by a trigger rule." in rule_page
    assert "The customer&#39;s message matched the handoff trigger &#39;agent&#39;." in rule_page
    operator_page = (await console.client.get(f"/console/conversations/{by_operator}")).text
    assert "Taken over by an operator." in operator_page and "Waiting for a human" not in operator_page

    await console.post(f"/console/conversations/{by_model}/messages", {"message": "I can help with that."})
    fragment = await console.client.get(f"/console/conversations/{by_model}/live", headers={"X-Console-Fragment": "1"})
    assert "Waiting for a human" not in fragment.text
    assert "Handed off by the model: asks for a refund" in fragment.text


async def test_every_page_counts_the_conversations_needing_a_human_in_its_navigation(
    make_tenant: Callable[..., Any], open_console: Callable[..., Any], stub_model: StubModel
) -> None:
    tenant = await handoff_tenant(make_tenant)
    console: Console = await open_console(tenant)
    quiet = (await console.client.get("/console/usage")).text
    assert 'data-needs-human="0" hidden' in quiet and "<title>Usage" in quiet

    handed = await handed_off_by_rule(tenant, "+4941")
    await handed_off_by_model(tenant, stub_model, "+4942", "asks for a refund")
    await handed_off_by_rule(await handoff_tenant(make_tenant), "+4943")  # another account's: not counted
    for path in (
        "/console/conversations",
        f"/console/conversations/{handed}",
        "/console/assistants",
        f"/console/assistants/{tenant.assistant_id}",
        "/console/usage",
        "/console/webhooks",
    ):
        page = (await console.client.get(path)).text
        assert '<span class="nav-count" data-needs-human="2"><span data-count>2</span>' in page, path
        assert re.search(r"<title>\(2\) ", page), path

    await console.post(f"/console/conversations/{handed}/hand-back")
    assert 'data-needs-human="1"' in (await console.client.get("/console/usage")).text
