"""Operators' working tools in the console: private notes on a conversation (kept for the team,
never shown to the customer, the model or the API's history, erased with the conversation), the
account's canned replies (added, refused in plain words, filled with the conversation's
variables, another account's out of reach) and labels on conversations; in Chromium, a canned
reply picked and sent."""

import json
from collections.abc import Callable
from typing import Any

from playwright.async_api import expect
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from replyd.store.canned_replies import CannedReply
from replyd.store.labels import Label
from replyd.store.notes import Note
from tests.conftest import Tenant
from tests.console.conftest import Console, browser_sign_in
from tests.servers import StubModel

SECRET = "Customer is a journalist; be careful with refunds."


async def notes_in(db: async_sessionmaker[AsyncSession], conversation_id: str) -> list[str]:
    async with db() as session:
        rows = await session.scalars(select(Note.content).where(Note.conversation_id == conversation_id))
        return list(rows.all())


async def test_a_note_is_kept_for_the_team_and_reaches_neither_customer_nor_model(
    tenant: Tenant, open_console: Callable[..., Any], stub_model: StubModel
) -> None:
    conversation_id = (await tenant.reply("Where is my refund?")).json()["conversation_id"]
    console: Console = await open_console(tenant)
    path = f"/console/conversations/{conversation_id}"

    added = await console.post(f"{path}/notes", {"note": SECRET})

    assert added.status_code == 303
    assert added.headers["location"] == f"{path}#notes"
    page = (await console.client.get(path)).text
    assert "journalist" in page and "console token" in page
    stub_model.reset()
    assert (await tenant.reply("Any news?")).status_code == 200
    assert "journalist" not in json.dumps(stub_model.requests)
    history = (await tenant.client.get(f"/api/conversations/{conversation_id}")).json()["history"]
    assert "journalist" not in json.dumps(history)


async def test_a_blank_note_is_refused_in_plain_words_and_nothing_is_kept(
    tenant: Tenant, open_console: Callable[..., Any], db: async_sessionmaker[AsyncSession]
) -> None:
    conversation_id = (await tenant.reply()).json()["conversation_id"]
    console: Console = await open_console(tenant)

    refused = await console.post(f"/console/conversations/{conversation_id}/notes", {"note": "   "})

    assert refused.status_code == 422
    assert "The note must not be blank." in refused.text
    assert await notes_in(db, conversation_id) == []


async def test_another_accounts_conversation_takes_no_note(
    make_tenant: Callable[..., Any], open_console: Callable[..., Any], db: async_sessionmaker[AsyncSession]
) -> None:
    mine, theirs = await make_tenant(), await make_tenant()
    conversation_id = (await theirs.reply("private")).json()["conversation_id"]
    console: Console = await open_console(mine)

    refused = await console.post(f"/console/conversations/{conversation_id}/notes", {"note": SECRET})

    assert refused.status_code == 404
    assert await notes_in(db, conversation_id) == []


async def test_erasing_a_conversation_erases_its_notes(
    tenant: Tenant, open_console: Callable[..., Any], db: async_sessionmaker[AsyncSession]
) -> None:
    conversation_id = (await tenant.reply()).json()["conversation_id"]
    console: Console = await open_console(tenant)
    await console.post(f"/console/conversations/{conversation_id}/notes", {"note": SECRET})
    assert await notes_in(db, conversation_id) == [SECRET]

    assert (await tenant.client.delete(f"/api/conversations/{conversation_id}")).status_code == 200

    assert await notes_in(db, conversation_id) == []


async def test_a_canned_reply_is_offered_with_the_conversations_variables_filled_in(
    tenant: Tenant, open_console: Callable[..., Any]
) -> None:
    body = {"customer": "+4915550001", "variables": {"customer_name": "John"}}
    conversation_id = (await tenant.reply("Hi", **body)).json()["conversation_id"]
    console: Console = await open_console(tenant)

    added = await console.post("/console/canned-replies", {"title": "Greeting", "text": "Hello {{customer_name}}!"})

    assert added.status_code == 303
    listed = (await console.client.get("/console/canned-replies")).text
    assert "Greeting" in listed and "Hello {{customer_name}}!" in listed
    page = (await console.client.get(f"/console/conversations/{conversation_id}")).text
    assert '<option value="Hello John!">Greeting</option>' in page


async def test_a_canned_reply_without_a_title_or_with_a_taken_one_is_refused_beside_its_field(
    tenant: Tenant, open_console: Callable[..., Any], db: async_sessionmaker[AsyncSession]
) -> None:
    console: Console = await open_console(tenant)
    await console.post("/console/canned-replies", {"title": "Shipping", "text": "3 days."})

    blank = await console.post("/console/canned-replies", {"title": " ", "text": ""})
    taken = await console.post("/console/canned-replies", {"title": "Shipping", "text": "5 days."})

    assert blank.status_code == 422
    assert 'id="error-title"' in blank.text and "must not be blank" in blank.text
    assert 'id="error-text"' in blank.text
    assert taken.status_code == 422
    assert "is the title of another canned reply; choose another" in taken.text
    async with db() as session:
        kept = await session.scalars(select(CannedReply.content).where(CannedReply.account_id == tenant.account_id))
        assert list(kept.all()) == ["3 days."]


async def test_another_accounts_canned_replies_are_neither_seen_nor_deleted(
    make_tenant: Callable[..., Any], open_console: Callable[..., Any], db: async_sessionmaker[AsyncSession]
) -> None:
    mine, theirs = await make_tenant(), await make_tenant()
    theirs_console: Console = await open_console(theirs)
    await theirs_console.post("/console/canned-replies", {"title": "Their secret", "text": "Internal."})
    async with db() as session:
        reply_id = await session.scalar(select(CannedReply.id).where(CannedReply.account_id == theirs.account_id))
    console: Console = await open_console(mine)

    assert "Their secret" not in (await console.client.get("/console/canned-replies")).text
    assert (await console.post(f"/console/canned-replies/{reply_id}/delete")).status_code == 303
    async with db() as session:
        assert await session.get(CannedReply, reply_id) is not None


async def test_an_operator_picks_a_canned_reply_edits_it_sends_it_and_leaves_a_note(
    tenant: Tenant, new_page: Callable[..., Any], open_console: Callable[..., Any]
) -> None:
    conversation_id = (await tenant.reply("Hi", variables={"customer_name": "Maria"})).json()["conversation_id"]
    console: Console = await open_console(tenant)
    await console.post("/console/canned-replies", {"title": "Thanks", "text": "Thank you, {{customer_name}}."})
    page = await new_page()
    await browser_sign_in(page, tenant.token)
    await page.goto(f"/console/conversations/{conversation_id}")

    await page.get_by_label("Canned reply").select_option(label="Thanks")
    message = page.get_by_label("Message to the customer")
    await expect(message).to_have_value("Thank you, Maria.")
    await expect(message).to_be_focused()
    await message.press("End")
    await message.type(" See you!")
    await page.get_by_role("button", name="Send as agent").click()
    await page.get_by_label("Add a note").fill("Promised a callback on Monday.")
    await page.get_by_role("button", name="Add note").click()

    await expect(page.locator(".note-list li")).to_contain_text("Promised a callback on Monday.")
    history = (await tenant.client.get(f"/api/conversations/{conversation_id}")).json()["history"]
    assert history[-1]["author"] == "agent"
    assert history[-1]["content"] == "Thank you, Maria. See you!"


async def labels_in(db: async_sessionmaker[AsyncSession], conversation_id: str) -> list[str]:
    async with db() as session:
        rows = await session.scalars(select(Label.label).where(Label.conversation_id == conversation_id))
        return sorted(rows.all())


async def test_labels_are_added_once_in_lowercase_shown_in_the_list_and_removed(
    tenant: Tenant, open_console: Callable[..., Any], db: async_sessionmaker[AsyncSession]
) -> None:
    conversation_id = (await tenant.reply()).json()["conversation_id"]
    console: Console = await open_console(tenant)
    labels = f"/console/conversations/{conversation_id}/labels"

    added = await console.post(labels, {"label": "  VIP   Customer "})
    await console.post(labels, {"label": "vip customer"})
    await console.post(labels, {"label": "refund"})

    assert added.status_code == 303
    assert added.headers["location"] == f"/console/conversations/{conversation_id}#labels"
    assert await labels_in(db, conversation_id) == ["refund", "vip customer"]
    listed = (await console.client.get("/console/conversations")).text
    assert '<span class="badge badge-label">vip customer</span>' in listed
    removed = await console.post(f"{labels}/remove", {"label": "refund"})
    assert removed.status_code == 303
    assert await labels_in(db, conversation_id) == ["vip customer"]


async def test_a_label_of_signs_only_is_refused_in_plain_words(
    tenant: Tenant, open_console: Callable[..., Any], db: async_sessionmaker[AsyncSession]
) -> None:
    conversation_id = (await tenant.reply()).json()["conversation_id"]
    console: Console = await open_console(tenant)

    refused = await console.post(f"/console/conversations/{conversation_id}/labels", {"label": "!!!"})

    assert refused.status_code == 422
    assert "The label must be 1 to 40 letters, digits, spaces or hyphens" in refused.text
    assert 'value="!!!"' in refused.text  # kept in the field, to correct
    assert await labels_in(db, conversation_id) == []


async def test_another_accounts_conversation_takes_no_label_and_erasure_takes_them_all(
    make_tenant: Callable[..., Any], open_console: Callable[..., Any], db: async_sessionmaker[AsyncSession]
) -> None:
    mine, theirs = await make_tenant(), await make_tenant()
    conversation_id = (await theirs.reply("private")).json()["conversation_id"]
    await (await open_console(theirs)).post(f"/console/conversations/{conversation_id}/labels", {"label": "legal"})
    console: Console = await open_console(mine)

    assert (await console.post(f"/console/conversations/{conversation_id}/labels", {"label": "x"})).status_code == 404
    remove = await console.post(f"/console/conversations/{conversation_id}/labels/remove", {"label": "legal"})
    assert remove.status_code == 404
    assert await labels_in(db, conversation_id) == ["legal"]
    assert (await theirs.client.delete(f"/api/conversations/{conversation_id}")).status_code == 200
    assert await labels_in(db, conversation_id) == []


async def test_the_list_filters_by_a_label_in_use(tenant: Tenant, open_console: Callable[..., Any]) -> None:
    refund, other = [(await tenant.reply("Hi", customer=f"+49155500{n}")).json()["conversation_id"] for n in (51, 52)]
    console: Console = await open_console(tenant)
    await console.post(f"/console/conversations/{refund}/labels", {"label": "Refund"})

    listed = (await console.client.get("/console/conversations", params={"label": "refund"})).text

    assert '<option value="refund" selected>refund</option>' in listed
    assert refund in listed and other not in listed
