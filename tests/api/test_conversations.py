"""The conversation endpoints, in Famulor's shapes: read, list, takeover, widget chats,
operator messages, erasure, and 404 for anything of another account."""

import asyncio
import base64
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from replyd.money import format_micros
from replyd.services.conversations import HISTORY_LIMIT, MAX_HISTORY_LIMIT
from replyd.store import accounts, conversations
from replyd.store.tables import Conversation, Message
from tests.api.test_account import cursor_of
from tests.api.test_errors import assert_error, detail_fields
from tests.conftest import Tenant
from tests.servers import Scripted, StubModel


async def replies_token(db: Any, tenant: Tenant, server: str) -> httpx.AsyncClient:
    async with db() as session, session.begin():
        token = await accounts.create_token(session, tenant.account_id, scope="replies")
    return httpx.AsyncClient(base_url=server, headers={"Authorization": f"Bearer {token.secret}"})


async def test_a_conversation_reads_back_with_its_history(tenant: Tenant, stub_model: StubModel) -> None:
    stub_model.enqueue("Hello John!")
    reply = (await tenant.reply("Hi, I'm John", customer="+4917", variables={"name": "John"})).json()
    response = await tenant.client.get(f"/api/conversations/{reply['conversation_id']}")
    body = response.json()
    assert response.status_code == 200
    assert set(body) == {
        "status",
        "conversation_id",
        "assistant_id",
        "type",
        "external_identifier",
        "ai_enabled",
        "ai_disabled_by",
        "ai_disabled_reason",
        "needs_human",
        "variables",
        "history",
    }
    assert body["status"] is True and body["type"] == "api" and body["external_identifier"] == "+4917"
    assert body["assistant_id"] == tenant.assistant_id and body["ai_enabled"] is True
    assert body["variables"] == {"name": "John"}
    assert [(h["role"], h["author"], h["content"]) for h in body["history"]] == [
        ("user", "customer", "Hi, I'm John"),
        ("assistant", "ai", "Hello John!"),
    ]
    assert all(h["function_calls"] == [] and h["created_at"] for h in body["history"])


async def test_a_long_history_is_read_from_its_end_and_paged_back_to_its_start(
    tenant: Tenant, db: async_sessionmaker[AsyncSession]
) -> None:
    """A conversation's read holds its newest messages only; the rest page in, newest first,
    each once, while new messages arrive."""
    conversation_id = (await tenant.reply("m0")).json()["conversation_id"]
    async with db() as session, session.begin():
        for n in range(1, HISTORY_LIMIT + 10):
            await conversations.add_message(session, conversation_id, author="customer", content=f"m{n}")
    read = (await tenant.client.get(f"/api/conversations/{conversation_id}")).json()
    assert [h["content"] for h in read["history"]] == [f"m{n}" for n in range(10, HISTORY_LIMIT + 10)]
    short = (await tenant.client.get(f"/api/conversations/{conversation_id}", params={"limit": 2})).json()
    assert [h["content"] for h in short["history"]] == [f"m{HISTORY_LIMIT + 8}", f"m{HISTORY_LIMIT + 9}"]
    pages, cursor = [], None
    while not pages or cursor:
        url = f"/api/conversations/{conversation_id}/messages"
        page = (await tenant.client.get(url, params={"per_page": 40, "cursor": cursor})).json()
        pages.append(page)
        cursor = page["next_cursor"]
        await tenant.reply("arriving meanwhile")
    texts = [m["content"] for page in pages for m in page["data"]]
    assert texts[0] == f"m{HISTORY_LIMIT + 9}" and texts[-2:] == ["echo: m0", "m0"]
    ids = [m["id"] for page in pages for m in page["data"]]
    assert ids == sorted(set(ids), reverse=True) and len(ids) == HISTORY_LIMIT + 11


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": MAX_HISTORY_LIMIT + 1}])
async def test_a_history_limit_out_of_range_is_refused(tenant: Tenant, params: dict[str, int]) -> None:
    conversation_id = (await tenant.reply()).json()["conversation_id"]
    response = await tenant.client.get(f"/api/conversations/{conversation_id}", params=params)
    assert detail_fields(assert_error(response, 422, "VALIDATION_ERROR")) == ["query.limit"]


async def test_a_ledger_cursor_is_no_history_cursor(tenant: Tenant) -> None:
    conversation_id = (await tenant.reply()).json()["conversation_id"]
    usage = (await tenant.client.get("/api/account/usage", params={"per_page": 1})).json()
    response = await tenant.client.get(
        f"/api/conversations/{conversation_id}/messages", params={"cursor": usage["next_cursor"]}
    )
    assert detail_fields(assert_error(response, 422, "VALIDATION_ERROR")) == ["cursor"]


async def test_takeover_then_agent_message_then_handback_reaches_the_model(
    tenant: Tenant, stub_model: StubModel, snapshot: Any
) -> None:
    conversation_id = (await tenant.reply("first")).json()["conversation_id"]
    disabled = await tenant.client.post(f"/api/automate/conversations/{conversation_id}/disable-ai")
    assert disabled.json() == {"status": True, "conversation_id": conversation_id, "ai_enabled": False}
    again = await tenant.client.post(
        f"/api/automate/conversations/{conversation_id}/disable-ai", headers={"Content-Type": "application/json"}
    )
    assert again.status_code == 200 and again.json()["ai_enabled"] is False
    waiting = (await tenant.reply("hello? anyone?")).json()
    assert (waiting["reply"], waiting["ai_disabled"]) == (None, True)
    before = await snapshot(tenant.account_id)
    agent = await tenant.client.post(
        f"/api/conversations/{conversation_id}/agent-messages", json={"message": "Hi, Maria from support here."}
    )
    assert agent.status_code == 200
    assert agent.json()["message"]["author"] == "agent" and agent.json()["message"]["role"] == "assistant"
    assert (await snapshot(tenant.account_id)).balance_micros == before.balance_micros
    enabled = await tenant.client.post(f"/api/automate/conversations/{conversation_id}/enable-ai")
    assert enabled.json()["ai_enabled"] is True
    await tenant.reply("thanks Maria")
    seen = [(m["role"], m["content"]) for m in stub_model.requests[-1]["messages"] if m["role"] != "system"]
    assert seen[-3:] == [
        ("user", "hello? anyone?"),
        ("assistant", "Hi, Maria from support here."),
        ("user", "thanks Maria"),
    ]
    history = (await tenant.client.get(f"/api/conversations/{conversation_id}")).json()["history"]
    assert [h["author"] for h in history] == ["customer", "ai", "customer", "agent", "customer", "ai"]


async def test_a_widget_conversation_starts_with_the_first_message_and_remembers(
    make_tenant: Any, stub_model: StubModel
) -> None:
    tenant: Tenant = await make_tenant(first_message="Welcome to Bob's Bikes! How can I help?")
    started = await tenant.client.post(
        "/api/conversations", json={"assistant_id": tenant.assistant_id, "type": "widget", "variables": {"page": "/"}}
    )
    body = started.json()
    assert started.status_code == 200 and body["status"] is True
    assert [(h["role"], h["content"]) for h in body["history"]] == [
        ("assistant", "Welcome to Bob's Bikes! How can I help?")
    ]
    conversation_id = body["conversation_id"]
    stub_model.enqueue("Our shop opens at 9.", "Yes, on Saturdays too.")
    first = await tenant.client.post(f"/api/conversations/{conversation_id}/messages", json={"message": "Hours?"})
    assert first.json() == {
        "status": True,
        "message": "Our shop opens at 9.",
        "function_calls": [],
        "ai_disabled": False,
    }
    await tenant.client.post(f"/api/conversations/{conversation_id}/messages", json={"message": "Saturday too?"})
    seen = [m["content"] for m in stub_model.requests[-1]["messages"] if m["role"] != "system"]
    assert seen == ["Welcome to Bob's Bikes! How can I help?", "Hours?", "Our shop opens at 9.", "Saturday too?"]
    conversation = (await tenant.client.get(f"/api/conversations/{conversation_id}")).json()
    assert (conversation["type"], conversation["external_identifier"]) == ("widget", None)


async def test_widget_messages_are_charged_and_refused_without_balance(make_tenant: Any, snapshot: Any) -> None:
    tenant: Tenant = await make_tenant(balance="0.015")
    conversation_id = (
        await tenant.client.post("/api/conversations", json={"assistant_id": tenant.assistant_id})
    ).json()["conversation_id"]
    url = f"/api/conversations/{conversation_id}/messages"
    assert (await tenant.client.post(url, json={"message": "one"})).status_code == 200
    assert_error(await tenant.client.post(url, json={"message": "two"}), 402, "INSUFFICIENT_BALANCE")
    after = await snapshot(tenant.account_id)
    assert after.balance_micros == 5_000 and after.messages == 2


async def test_deleting_a_conversation_erases_messages_but_keeps_the_ledger(tenant: Tenant, snapshot: Any) -> None:
    conversation_id = (await tenant.reply("secret stuff")).json()["conversation_id"]
    before = await snapshot(tenant.account_id)
    deleted = await tenant.client.delete(f"/api/conversations/{conversation_id}")
    assert deleted.json() == {"status": True, "conversation_id": conversation_id, "deleted": True}
    after = await snapshot(tenant.account_id)
    assert (after.conversations, after.messages) == (0, 0)
    assert after.ledger_entries == before.ledger_entries and after.balance_micros == before.balance_micros
    assert_error(await tenant.client.get(f"/api/conversations/{conversation_id}"), 404, "CONVERSATION_NOT_FOUND")
    fresh = (await tenant.reply("again")).json()
    assert fresh["conversation_id"] != conversation_id


async def test_a_repeated_delete_succeeds_as_the_first_did(tenant: Tenant, snapshot: Any) -> None:
    conversation_id = (await tenant.reply("secret stuff")).json()["conversation_id"]
    first = await tenant.client.delete(f"/api/conversations/{conversation_id}")
    again = await tenant.client.delete(f"/api/conversations/{conversation_id}")
    assert first.status_code == again.status_code == 200 and first.json() == again.json()
    assert (await snapshot(tenant.account_id)).conversations == 0


async def test_every_conversation_endpoint_answers_for_another_accounts_conversation_as_for_none(
    make_tenant: Any, snapshot: Any
) -> None:
    """404 CONVERSATION_NOT_FOUND, and for DELETE (idempotent) the success it answers for an id never there."""
    mine: Tenant = await make_tenant()
    theirs: Tenant = await make_tenant()
    conversation_id = (await theirs.reply("private")).json()["conversation_id"]
    before = await snapshot(theirs.account_id)
    calls = [
        mine.client.get(f"/api/conversations/{conversation_id}"),
        mine.client.get(f"/api/conversations/{conversation_id}/messages"),
        mine.client.post(f"/api/automate/conversations/{conversation_id}/disable-ai"),
        mine.client.post(f"/api/automate/conversations/{conversation_id}/enable-ai"),
        mine.client.post(f"/api/conversations/{conversation_id}/messages", json={"message": "hi"}),
        mine.client.post(f"/api/conversations/{conversation_id}/agent-messages", json={"message": "hi"}),
        mine.client.post(f"/api/conversations/{conversation_id}/agent-typing"),
    ]
    for call in calls:
        body = assert_error(await call, 404, "CONVERSATION_NOT_FOUND")
        assert body["status"] is False
    assert await snapshot(theirs.account_id) == before
    listed = (await mine.client.get("/api/user/conversations")).json()["data"]
    assert conversation_id not in [c["id"] for c in listed]
    missing = assert_error(
        await mine.client.get("/api/conversations/00000000-0000-0000-0000-000000000000"), 404, "CONVERSATION_NOT_FOUND"
    )
    assert missing["error"].split()[0] == "Conversation"
    never = "00000000-0000-0000-0000-000000000000"
    other, none = [await mine.client.delete(f"/api/conversations/{id}") for id in (conversation_id, never)]
    assert other.status_code == none.status_code == 200
    assert (
        other.json() | {"conversation_id": never}
        == none.json()
        == {"status": True, "conversation_id": never, "deleted": True}
    )
    assert await snapshot(theirs.account_id) == before


async def test_the_list_has_famulors_shape_and_filters(make_tenant: Any, db: Any) -> None:
    tenant: Tenant = await make_tenant(reply_fee="0.02")
    await tenant.reply("a", customer="alice")
    await tenant.reply("b", customer="bob")
    await tenant.reply("b2", customer="bob")
    await tenant.client.post("/api/conversations", json={"assistant_id": tenant.assistant_id, "type": "test"})
    page = (await tenant.client.get("/api/user/conversations")).json()
    assert set(page) == {"data", "per_page", "next_cursor", "prev_cursor", "path"}
    assert page["per_page"] == 15 and page["next_cursor"] is None and page["prev_cursor"] is None
    assert [c["type"] for c in page["data"]] == ["test", "api", "api"]
    bob = page["data"][1]
    assert set(bob) == {
        "id",
        "assistant_id",
        "assistant_name",
        "type",
        "variables",
        "external_identifier",
        "message_count",
        "total_cost",
        "ai_enabled",
        "ai_disabled_by",
        "needs_human",
        "created_at",
        "updated_at",
    }
    assert (bob["external_identifier"], bob["message_count"], bob["total_cost"]) == ("bob", 4, "0.04")
    assert bob["assistant_name"] == "Test assistant"
    only_bob = (await tenant.client.get("/api/user/conversations", params={"external_identifier": "bob"})).json()
    assert [c["external_identifier"] for c in only_bob["data"]] == ["bob"]
    by_phone = (await tenant.client.get("/api/user/conversations", params={"customer_phone": "alice"})).json()
    assert [c["external_identifier"] for c in by_phone["data"]] == ["alice"]
    tests = (await tenant.client.get("/api/user/conversations", params={"type": "test"})).json()
    assert [c["type"] for c in tests["data"]] == ["test"]
    other = (await tenant.client.get("/api/user/conversations", params={"assistant_id": 10**9})).json()
    assert other["data"] == []


async def test_pagination_loses_and_repeats_nothing_while_conversations_arrive(tenant: Tenant) -> None:
    for n in range(7):
        await tenant.reply(f"m{n}", customer=f"old-{n}")
    seen: list[str] = []
    cursor = None
    for page_number in range(10):
        params: dict[str, Any] = {"per_page": 3, **({"cursor": cursor} if cursor else {})}
        page = (await tenant.client.get("/api/user/conversations", params=params)).json()
        seen += [c["external_identifier"] for c in page["data"]]
        await asyncio.gather(*(tenant.reply("new", customer=f"new-{page_number}-{k}") for k in range(2)))
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [f"old-{n}" for n in reversed(range(7))]


async def test_pages_through_conversations_active_at_one_moment_repeat_and_skip_none(tenant: Tenant, db: Any) -> None:
    """Conversations tied on their last activity are ordered by their number, the newest
    first: the cursor's row value (updated_at, number) steps past each exactly once, forwards
    and back."""
    for n in range(7):
        await tenant.reply("m", customer=f"tied-{n}")
    async with db() as session, session.begin():
        owned = Conversation.account_id == tenant.account_id
        await session.execute(update(Conversation).where(owned).values(updated_at=datetime(2026, 5, 1, tzinfo=UTC)))
        newest_first = select(Conversation.id).where(owned).order_by(Conversation.number.desc())
        ids = list((await session.scalars(newest_first)).all())
    pages, cursor = [], None
    while not pages or cursor:
        page = (await tenant.client.get("/api/user/conversations", params={"per_page": 3, "cursor": cursor})).json()
        pages.append(page)
        cursor = page["next_cursor"]
    assert [c["id"] for page in pages for c in page["data"]] == ids
    back, cursor = [], pages[-1]["prev_cursor"]
    while cursor:
        page = (await tenant.client.get("/api/user/conversations", params={"per_page": 3, "cursor": cursor})).json()
        back = [c["id"] for c in page["data"]] + back
        cursor = page["prev_cursor"]
    assert back == ids[:6]


async def test_the_listed_counts_and_costs_are_those_of_the_stored_messages(
    make_tenant: Any, stub_model: StubModel, db: Any
) -> None:
    """Every way a message is stored counts it on its conversation: replies, a trigger's
    handoff, an agent's message, a message while the AI is off, a failed reply answered on
    retry, and a widget chat's first message."""
    tenant: Tenant = await make_tenant(reply_fee="0.02", handoff_triggers=["agent"], first_message="Welcome!")
    conversation_id = (await tenant.reply("hi", customer="kept")).json()["conversation_id"]
    await tenant.reply("an agent please", customer="kept")
    await tenant.client.post(f"/api/conversations/{conversation_id}/agent-messages", json={"message": "Maria here"})
    await tenant.reply("still there?", customer="kept")
    await tenant.client.post(f"/api/automate/conversations/{conversation_id}/enable-ai")
    stub_model.enqueue(Scripted(status=500))
    assert (await tenant.reply("once more", customer="kept")).status_code == 502
    assert (await tenant.reply("once more", customer="kept")).status_code == 200
    widget = (await tenant.client.post("/api/conversations", json={"assistant_id": tenant.assistant_id})).json()
    await tenant.client.post(f"/api/conversations/{widget['conversation_id']}/messages", json={"message": "hours?"})
    listed = (await tenant.client.get("/api/user/conversations")).json()["data"]
    async with db() as session:
        stored = await session.execute(
            select(Conversation.id, func.count(), func.sum(Message.cost_micros))
            .join(Conversation)
            .where(Conversation.account_id == tenant.account_id)
            .group_by(Conversation.id)
        )
        expected = {c: (n, format_micros(cost)) for c, n, cost in stored.all()}
    assert {c["id"]: (c["message_count"], c["total_cost"]) for c in listed} == expected
    assert expected[conversation_id] == (8, "0.04") and expected[widget["conversation_id"]] == (3, "0.02")


async def test_prev_cursor_leads_back_to_the_page_before(tenant: Tenant) -> None:
    for n in range(5):
        await tenant.reply("m", customer=f"c{n}")
    first = (await tenant.client.get("/api/user/conversations", params={"per_page": 2})).json()
    second = (
        await tenant.client.get("/api/user/conversations", params={"per_page": 2, "cursor": first["next_cursor"]})
    ).json()
    back = (
        await tenant.client.get("/api/user/conversations", params={"per_page": 2, "cursor": second["prev_cursor"]})
    ).json()
    assert [c["id"] for c in back["data"]] == [c["id"] for c in first["data"]]
    assert back["prev_cursor"] is None and back["next_cursor"] == first["next_cursor"]


@pytest.mark.parametrize("params", [{"cursor": "not-a-cursor"}, {"per_page": 0}, {"per_page": 101}, {"type": "fax"}])
async def test_bad_list_parameters_are_validation_errors(tenant: Tenant, params: dict[str, Any]) -> None:
    body = assert_error(await tenant.client.get("/api/user/conversations", params=params), 422, "VALIDATION_ERROR")
    assert body["status"] is False


async def test_a_replies_token_reads_but_may_not_manage(tenant: Tenant, db: Any, server: str) -> None:
    conversation_id = (await tenant.reply()).json()["conversation_id"]
    async with await replies_token(db, tenant, server) as reader:
        assert (await reader.get(f"/api/conversations/{conversation_id}")).status_code == 200
        assert (await reader.get(f"/api/conversations/{conversation_id}/messages")).status_code == 200
        assert (await reader.get("/api/user/conversations")).status_code == 200
        body = {"assistant_id": tenant.assistant_id, "customer_identifier": "r", "message": "hi"}
        assert (await reader.post("/api/ai/generate-reply", json=body)).status_code == 200
        forbidden = [
            reader.post(f"/api/automate/conversations/{conversation_id}/disable-ai"),
            reader.post(f"/api/conversations/{conversation_id}/agent-messages", json={"message": "x"}),
            reader.post(f"/api/conversations/{conversation_id}/agent-typing"),
            reader.post(f"/api/conversations/{conversation_id}/messages", json={"message": "x"}),
            reader.post("/api/conversations", json={"assistant_id": tenant.assistant_id}),
            reader.delete(f"/api/conversations/{conversation_id}"),
            reader.get("/api/assistants"),
            reader.get("/api/account"),
        ]
        for call in forbidden:
            assert_error(await call, 403, "FORBIDDEN")


@pytest.mark.parametrize("body", [{}, {"message": ""}, {"message": "   "}, {"message": 5}])
async def test_agent_messages_need_a_message(tenant: Tenant, body: dict[str, Any]) -> None:
    conversation_id = (await tenant.reply()).json()["conversation_id"]
    response = await tenant.client.post(f"/api/conversations/{conversation_id}/agent-messages", json=body)
    assert assert_error(response, 422, "VALIDATION_ERROR")["details"][0]["field"] == "message"


async def test_starting_a_chat_with_another_accounts_assistant_is_not_found(make_tenant: Any) -> None:
    mine: Tenant = await make_tenant()
    theirs: Tenant = await make_tenant()
    response = await mine.client.post("/api/conversations", json={"assistant_id": theirs.assistant_id})
    assert assert_error(response, 404, "ASSISTANT_NOT_FOUND")["status"] is False


@pytest.mark.parametrize("conversation_id", ["not-a-uuid", "1", "C654B74C-0FD4-4ABC-85E3-6C9609CB7691x"])
async def test_a_malformed_conversation_id_is_simply_not_found(tenant: Tenant, conversation_id: str) -> None:
    assert_error(await tenant.client.get(f"/api/conversations/{conversation_id}"), 404, "CONVERSATION_NOT_FOUND")


PLACE = {"d": "next", "u": "2026-01-01T00:00:00+00:00", "i": "5b0f6c1e-3f7a-4e0b-9a43-2d7f4c1f9e21"}


@pytest.mark.parametrize(
    "change",
    [
        {"i": "\ud800"},
        {"i": "a\u0000"},
        {"i": 5},
        {"i": ""},
        {"u": "2026-01-01T00:00:00"},  # replyd's cursors always carry their zone
        {"u": "yesterday"},
        {"d": "up"},
        {"d": None},
        {"before": 5},
    ],
)
async def test_a_junk_conversation_cursor_is_refused_in_the_envelope(tenant: Tenant, change: dict[str, Any]) -> None:
    await tenant.reply()
    text = json.dumps(PLACE | change)
    response = await tenant.client.get("/api/user/conversations", params={"cursor": cursor_of(text)})
    assert detail_fields(assert_error(response, 422, "VALIDATION_ERROR")) == ["cursor"]


async def test_a_cursor_in_another_time_zone_reads_as_the_same_moment(tenant: Tenant) -> None:
    for n in range(3):
        await tenant.reply(customer=f"c{n}")
    first = (await tenant.client.get("/api/user/conversations", params={"per_page": 1})).json()
    place = json.loads(base64.urlsafe_b64decode(first["next_cursor"] + "=="))
    moment = datetime.fromisoformat(place["u"]).astimezone(timezone(timedelta(hours=5)))
    shifted = cursor_of(json.dumps(place | {"u": moment.isoformat()}))
    page = (await tenant.client.get("/api/user/conversations", params={"per_page": 1, "cursor": shifted})).json()
    after = (
        await tenant.client.get("/api/user/conversations", params={"per_page": 1, "cursor": first["next_cursor"]})
    ).json()
    assert page["data"] == after["data"] and page["data"][0]["external_identifier"] == "c1"
