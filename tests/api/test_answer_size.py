"""No answer larger than 1 MB by default (issue 19): a conversation of long messages and a list
of conversations with large variables are read in pages that stop at the text budget, and
paging still reaches every message and every conversation exactly once."""

from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from replyd.services.answer_size import within_budget
from replyd.store import conversations
from replyd.store.tables import Conversation
from tests.conftest import Tenant

MB = 1_000_000
LONG = 32_000
"""Characters: the most a customer's message may hold by default."""


@given(st.lists(st.integers(min_value=0, max_value=50)), st.integers(min_value=0, max_value=200))
def test_a_budgeted_page_is_the_longest_prefix_within_budget_and_never_empty(sizes: list[int], budget: int) -> None:
    kept = within_budget(sizes, lambda size: size, budget)
    assert kept == sizes[: len(kept)]
    assert bool(kept) == bool(sizes)
    assert len(kept) == 1 or sum(kept) <= budget
    if len(kept) < len(sizes):
        assert sum(sizes[: len(kept) + 1]) > budget


async def a_conversation_of_long_messages(tenant: Tenant, db: async_sessionmaker[AsyncSession], count: int) -> str:
    """Its first message and answer, then ``count`` messages of 32,000 characters, every third
    of quotes (which JSON doubles)."""
    conversation_id: str = (await tenant.reply("first")).json()["conversation_id"]
    async with db() as session, session.begin():
        for n in range(count):
            text = f"{n}:" + ('"' if n % 3 == 0 else "x") * (LONG - 8)
            await conversations.add_message(session, conversation_id, author="customer", content=text)
    return conversation_id


async def test_a_conversation_of_long_messages_is_read_under_1_mb_and_paged_whole(
    tenant: Tenant, db: async_sessionmaker[AsyncSession]
) -> None:
    conversation_id = await a_conversation_of_long_messages(tenant, db, 60)
    for limit in (100, 500):
        read = await tenant.client.get(f"/api/conversations/{conversation_id}", params={"limit": limit})
        assert read.status_code == 200 and len(read.content) < MB
        history = [h["content"] for h in read.json()["history"]]
        assert 1 < len(history) < 60 and history[-1].startswith("59:")
        assert [int(text.split(":")[0]) for text in history] == list(range(60 - len(history), 60))

    seen: list[str] = []
    cursor = None
    while cursor or not seen:
        url = f"/api/conversations/{conversation_id}/messages"
        page = await tenant.client.get(url, params={"per_page": 200, "cursor": cursor})
        assert page.status_code == 200 and len(page.content) < MB
        seen += [m["content"] for m in page.json()["data"]]
        cursor = page.json()["next_cursor"]
    assert seen == [f"{n}:" + ('"' if n % 3 == 0 else "x") * (LONG - 8) for n in reversed(range(60))] + [
        "echo: first",
        "first",
    ]


async def test_a_list_of_conversations_with_large_variables_pages_under_1_mb_both_ways(
    tenant: Tenant, db: async_sessionmaker[AsyncSession]
) -> None:
    made = [(await tenant.reply(f"hi {n}", customer=f"+49{n}")).json()["conversation_id"] for n in range(12)]
    async with db() as session, session.begin():
        large = {"notes": "v" * 200_000}
        await session.execute(update(Conversation).where(Conversation.id.in_(made)).values(variables=large))
    pages: list[dict[str, Any]] = []
    cursor = None
    while cursor or not pages:
        page = await tenant.client.get("/api/user/conversations", params={"per_page": 100, "cursor": cursor})
        assert page.status_code == 200 and len(page.content) < MB
        pages.append(page.json())
        cursor = pages[-1]["next_cursor"]
    listed = [item["id"] for page in pages for item in page["data"]]
    assert sorted(listed) == sorted(made) and len(pages) > 1

    back = pages[-1]["prev_cursor"]
    came_back: list[str] = []
    while back:
        page = await tenant.client.get("/api/user/conversations", params={"per_page": 100, "cursor": back})
        assert page.status_code == 200 and len(page.content) < MB
        came_back = [item["id"] for item in page.json()["data"]] + came_back
        back = page.json()["prev_cursor"]
    assert came_back + [item["id"] for item in pages[-1]["data"]] == listed
