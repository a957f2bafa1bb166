"""Searching the conversation list (``?q=``) and its other filters: a piece of a customer
identifier, a variable's value, a word of a message, each through the database's own index;
nothing of an erased conversation left to find; pages both ways. A search found along the list
(a common text) finds what one looked up in the indexes finds; a text shorter than three
characters looks through the newest conversations only."""

from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import text, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from replyd.clock import utcnow
from replyd.store import search
from replyd.store.session import on_postgresql
from replyd.store.tables import Conversation
from tests.api.test_errors import assert_error, detail_fields
from tests.conftest import Tenant
from tests.servers import StubModel

LIST = "/api/user/conversations"


async def found(tenant: Tenant, **params: Any) -> list[str | None]:
    """The customers of the conversations the list shows for ``params``, newest first."""
    response = await tenant.client.get(LIST, params=params)
    assert response.status_code == 200, response.text
    return [c["external_identifier"] for c in response.json()["data"]]


SEARCH_MODES = {"looked-up": (search.COMMON, search.WALK), "walked": (0, search.WALK), "walked-then-looked-up": (0, 2)}


@pytest.fixture(params=list(SEARCH_MODES))
def mode(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each search as a rare text is found (from the indexes), as a common one is (walking
    the list), and as a walk that reads too few conversations and gives way to the indexes."""
    common, walk = SEARCH_MODES[request.param]
    monkeypatch.setattr(search, "COMMON", common)
    monkeypatch.setattr(search, "WALK", walk)


@pytest.mark.usefixtures("mode")
async def test_a_piece_of_a_customer_identifier_finds_it_whatever_its_case(tenant: Tenant) -> None:
    await tenant.reply("Hi", customer="+49155551234")
    await tenant.reply("Hi", customer="Maria.Lopez@example.com")
    await tenant.reply("Hi", customer="+3161234")
    assert await found(tenant, q="5551") == ["+49155551234"]
    assert await found(tenant, q="maria.LOPEZ") == ["Maria.Lopez@example.com"]
    assert await found(tenant, q="1234") == ["+3161234", "+49155551234"]
    await tenant.reply("Hi", customer="O'Brien\\Dublin")
    assert await found(tenant, q="o'brien\\d") == ["O'Brien\\Dublin"], "quotes and backslashes are text"


@pytest.mark.usefixtures("mode")
async def test_a_word_of_a_message_finds_its_conversation_and_so_does_its_start(
    tenant: Tenant, stub_model: StubModel
) -> None:
    await tenant.reply("My bicycle has a flat tyre", customer="flat")
    stub_model.enqueue("Your parcel left our warehouse yesterday.")
    await tenant.reply("Where is my order?", customer="parcel")
    assert await found(tenant, q="TYRE") == ["flat"]
    assert await found(tenant, q="warehouse") == ["parcel"], "the AI's words are found too"
    assert await found(tenant, q="bicy") == ["flat"], "a word's start finds it"
    assert await found(tenant, q="flat bicycle") == ["flat"], "every word, in any order"
    assert await found(tenant, q="flat warehouse") == [], "every word in one message"
    assert await found(tenant, q="flat tyre!") == ["flat"], "a piece of a message is searched for its words"


@pytest.mark.usefixtures("mode")
async def test_a_variables_value_finds_its_conversation_but_its_name_does_not(tenant: Tenant) -> None:
    await tenant.reply("Hi", customer="a", variables={"order_number": "A-77812", "vip": True})
    await tenant.reply("Hi", customer="b", variables={"customer_name": "Jürgen Weiß", "city": "Köln"})
    assert await found(tenant, q="7781") == ["a"]
    assert await found(tenant, q="jürgen") == ["b"]
    assert await found(tenant, q="order_number") == []
    assert await found(tenant, q="weiß\nköln") == [], "a piece never spans two values"


async def test_a_changed_variable_is_found_by_its_new_value_only(tenant: Tenant) -> None:
    await tenant.reply("Hi", customer="a", variables={"order": "A-11122"})
    await tenant.reply("Again", customer="a", variables={"order": "B-33344"})
    assert await found(tenant, q="b-333") == ["a"] and await found(tenant, q="a-111") == []


async def test_a_search_shorter_than_three_characters_looks_through_the_newest_conversations(
    tenant: Tenant, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No trigram index finds a piece of one or two characters (docs/api.md)."""
    monkeypatch.setattr(search, "SHORT_WINDOW", 2)
    for n in range(1, 4):
        await tenant.reply(f"Reply number {n}", customer=f"+49x{n}")
    assert await found(tenant, q="x") == ["+49x3", "+49x2"]
    assert await found(tenant, q="X1") == [] and await found(tenant, q="x2") == ["+49x2"]
    assert await found(tenant, q="+49x1") == ["+49x1"], "three characters search every conversation"
    assert await found(tenant, q="nu", per_page=1) == ["+49x3"]
    second = (await tenant.client.get(LIST, params={"q": "nu", "per_page": 1})).json()["next_cursor"]
    assert await found(tenant, q="nu", cursor=second) == ["+49x2"]


async def test_a_search_that_matches_nothing_is_an_empty_page(tenant: Tenant) -> None:
    await tenant.reply("Hello there", customer="+4911")
    page = (await tenant.client.get(LIST, params={"q": "zebra"})).json()
    assert page["data"] == [] and page["next_cursor"] is None and page["prev_cursor"] is None
    assert await found(tenant, q="%") == [] and await found(tenant, q="_") == [], "LIKE's wildcards are literal"
    assert await found(tenant, q="%_%") == [] and await found(tenant, q='"4"') == []
    assert await found(tenant, q="  ") == ["+4911"], "blank searches nothing"


async def test_a_search_never_finds_another_accounts_conversations(make_tenant: Any) -> None:
    mine: Tenant = await make_tenant()
    theirs: Tenant = await make_tenant()
    await theirs.reply("Secret plans for the merger", customer="+4999", variables={"code": "merger"})
    assert await found(mine, q="merger") == [] and await found(mine, q="4999") == []
    assert await found(theirs, q="merger") == ["+4999"]


async def test_an_erased_conversation_leaves_nothing_in_the_index(
    tenant: Tenant, db: async_sessionmaker[AsyncSession]
) -> None:
    """The stub model echoes, so each conversation holds the word twice."""
    erased = (await tenant.reply("Call me about xylophonist lessons", customer="+4931")).json()["conversation_id"]
    kept = (await tenant.reply("Another xylophonist here", customer="+4932")).json()["conversation_id"]
    assert await found(tenant, q="xylophonist") == ["+4932", "+4931"]
    async with db() as session:
        assert await indexed_with(session, "xylophonist") == 4
    assert (await tenant.client.delete(f"/api/conversations/{erased}")).status_code == 200
    assert await found(tenant, q="xylophonist") == ["+4932"]
    assert await found(tenant, q="4931") == [] and await found(tenant, q="lessons") == []
    async with db() as session:
        assert await indexed_with(session, "xylophonist") == 2
        assert await indexed_with(session, "lessons") == 0
        assert await indexed_pieces(session, "+4931") == 0 and await indexed_pieces(session, "+4932") == 1
    assert (await tenant.client.delete(f"/api/conversations/{kept}")).status_code == 200
    async with db() as session:
        assert await indexed_with(session, "xylophonist") == 0


async def indexed_with(session: AsyncSession, word: str) -> int:
    """How many messages the index holds ``word`` for: SQLite's FTS5 vocabulary of it,
    PostgreSQL's GIN index read without a table scan."""
    if on_postgresql(session):
        await session.execute(text("SET LOCAL enable_seqscan = off"))
        words = "to_tsvector('simple'::regconfig, content) @@ to_tsquery('simple', :w)"
        return int(await session.scalar(text(f"SELECT count(*) FROM messages WHERE {words}"), {"w": word}) or 0)
    vocabulary = "CREATE VIRTUAL TABLE IF NOT EXISTS temp.search_words USING fts5vocab(main, messages_fts, 'row')"
    await session.execute(text(vocabulary))
    count = "SELECT coalesce(sum(doc), 0) FROM temp.search_words WHERE term = :w"
    return int(await session.scalar(text(count), {"w": word}) or 0)


async def indexed_pieces(session: AsyncSession, piece: str) -> int:
    """How many conversations the trigram index holds ``piece`` for."""
    if on_postgresql(session):
        await session.execute(text("SET LOCAL enable_seqscan = off"))
        count = "SELECT count(*) FROM conversation_search_text WHERE text LIKE '%' || :p || '%'"
    else:
        count = "SELECT count(*) FROM conversation_search WHERE conversation_search MATCH '\"' || :p || '\"'"
    return int(await session.scalar(text(count), {"p": piece}) or 0)


async def test_filters_by_ai_state_type_and_day_of_last_activity(
    tenant: Tenant, db: async_sessionmaker[AsyncSession]
) -> None:
    old = (await tenant.reply("Hi", customer="old")).json()["conversation_id"]
    off = (await tenant.reply("Hi", customer="off")).json()["conversation_id"]
    await tenant.reply("Hi", customer="new")
    await tenant.client.post(f"/api/automate/conversations/{off}/disable-ai")
    ten_days_ago = utcnow() - timedelta(days=10)
    async with db() as session, session.begin():
        await session.execute(update(Conversation).where(Conversation.id == old).values(updated_at=ten_days_ago))
    assert await found(tenant, ai_enabled="false") == ["off"]
    assert await found(tenant, ai_enabled="true") == ["new", "old"]
    assert await found(tenant, type="widget") == []
    day = ten_days_ago.date()
    assert await found(tenant, since=day.isoformat(), until=day.isoformat()) == ["old"]
    assert set(await found(tenant, since=(day + timedelta(days=1)).isoformat())) == {"off", "new"}
    assert await found(tenant, until=(day - timedelta(days=1)).isoformat()) == []
    assert await found(tenant, q="o", ai_enabled="true") == ["old"]


@pytest.mark.usefixtures("mode")
async def test_search_results_page_forwards_and_back(tenant: Tenant) -> None:
    for n in range(5):
        await tenant.reply(f"Question {n} about my invoice", customer=f"+49{n}")
    await tenant.reply("Unrelated", customer="+4999")
    pages, cursor = [], None
    while not pages or cursor:
        page = (await tenant.client.get(LIST, params={"q": "invoice", "per_page": 2, "cursor": cursor})).json()
        pages.append(page)
        cursor = page["next_cursor"]
    customers = [[c["external_identifier"] for c in p["data"]] for p in pages]
    assert customers == [["+494", "+493"], ["+492", "+491"], ["+490"]]
    assert "q=invoice" in pages[-1]["path"]
    back, cursor = [], pages[-1]["prev_cursor"]
    while cursor:
        page = (await tenant.client.get(LIST, params={"q": "invoice", "per_page": 2, "cursor": cursor})).json()
        back.append([c["external_identifier"] for c in page["data"]])
        cursor = page["prev_cursor"]
    assert back == [["+492", "+491"], ["+494", "+493"]]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"q": "x" * 201}, "q"),
        ({"q": "a\x00b"}, "q"),
        ({"ai_enabled": "maybe"}, "ai_enabled"),
        ({"since": "yesterday"}, "since"),
        ({"until": "2026-02-30"}, "until"),
        ({"since": "2026-12-03", "until": "2026-12-01"}, "since"),
    ],
)
async def test_bad_search_parameters_are_refused_in_the_envelope(
    tenant: Tenant, params: dict[str, str], field: str
) -> None:
    """Named ``query.<parameter>`` when its type is wrong, ``<parameter>`` when a rule between two is broken."""
    response = await tenant.client.get(LIST, params=params)
    fields = detail_fields(assert_error(response, 422, "VALIDATION_ERROR"))
    assert [name.removeprefix("query.") for name in fields] == [field]
