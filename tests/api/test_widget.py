"""The chat widget's public endpoints, as a page's script calls them: its key, its allowed
origins, signed visitors and identities, limits, the balance, and the live stream."""

import asyncio
import gzip
import hashlib
import hmac
import json
import threading
import uuid
from collections.abc import AsyncGenerator, Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import httpx
import pytest
import redis
from sqlalchemy import select

from replyd.store.tables import Account, Conversation
from tests.conftest import RUN_PREFIX, Tenant
from tests.servers import Scripted, StubModel, TcpProxy

SHOP = "https://shop.example.com"
Events = AsyncGenerator[tuple[str, dict[str, Any], str | None], None]
"""A stream's events as (name, data, id)."""


class Page:
    """A page of ``origin`` calling the widget's endpoints, as widget.js does."""

    def __init__(self, client: httpx.AsyncClient, key: str, origin: str | None = SHOP) -> None:
        self.client = client
        self.key = key
        self.headers = {"Origin": origin} if origin else {}

    async def open(self, **body: Any) -> httpx.Response:
        return await self.client.post(f"/widget/{self.key}/conversations", json=body, headers=self.headers)

    async def send(self, opened: dict[str, Any], message: str) -> httpx.Response:
        return await self.client.post(
            f"/widget/{self.key}/conversations/{opened['conversation_id']}/messages",
            json={"message": message},
            headers=self.headers | {"X-Replyd-Visitor": opened["visitor"]},
        )

    async def history(self, opened: dict[str, Any]) -> httpx.Response:
        return await self.client.get(
            f"/widget/{self.key}/conversations/{opened['conversation_id']}/messages",
            headers=self.headers | {"X-Replyd-Visitor": opened["visitor"]},
        )

    async def events(self, opened: dict[str, Any], last_event_id: str | None = None) -> Events:
        """The stream's events, until the caller stops reading."""
        headers = self.headers | ({"Last-Event-ID": last_event_id} if last_event_id else {})
        url = f"/widget/{self.key}/conversations/{opened['conversation_id']}/events"
        async with self.client.stream("GET", url, params={"visitor": opened["visitor"]}, headers=headers) as answer:
            assert answer.status_code == 200, await answer.aread()
            assert answer.headers["access-control-allow-origin"] == SHOP
            fields: dict[str, str] = {}
            async for line in answer.aiter_lines():
                if line:
                    name, _, value = line.partition(": ")
                    fields[name] = value
                elif "event" in fields:
                    yield fields["event"], json.loads(fields["data"]), fields.get("id")
                    fields = {}


@pytest.fixture
async def page(tenant: Tenant, make_widget: Callable[..., Any]) -> Page:
    return Page(tenant.client, await make_widget(tenant, [SHOP, "http://localhost:8080"]))


async def opened(page: Page, **body: Any) -> dict[str, Any]:
    answer = await page.open(**body)
    assert answer.status_code == 200, answer.text
    assert answer.headers["access-control-allow-origin"] == SHOP
    result: dict[str, Any] = answer.json()
    return result


def assert_refused(answer: httpx.Response, status: int, code: str) -> None:
    assert answer.status_code == status, answer.text
    assert answer.json() == {"success": False, "error": answer.json()["error"], "error_code": code}


async def test_a_visitor_is_answered_and_sees_their_history_when_they_come_back(
    page: Page, stub_model: StubModel, db: Any
) -> None:
    stub_model.enqueue("We ship to Austria, yes.")
    first = await opened(page)
    assert first["messages"] == []

    sent = await page.send(first, "Do you ship to Austria?")

    assert sent.status_code == 200, sent.text
    assert sent.json() == {"success": True, "reply": "We ship to Austria, yes.", "ai_disabled": False}
    again = await opened(page, visitor=first["visitor"])
    assert again["conversation_id"] == first["conversation_id"]
    assert [(m["author"], m["content"]) for m in again["messages"]] == [
        ("customer", "Do you ship to Austria?"),
        ("ai", "We ship to Austria, yes."),
    ]
    async with db() as session:
        conversation = await session.get(Conversation, first["conversation_id"])
    assert conversation.type == "widget"
    assert conversation.customer_identifier.startswith("visitor:")


async def test_each_new_visitor_gets_a_conversation_of_their_own(page: Page) -> None:
    one, other = await opened(page), await opened(page)

    assert one["conversation_id"] != other["conversation_id"]
    assert one["visitor"] != other["visitor"]
    assert_refused(await page.history(one | {"visitor": other["visitor"]}), 404, "CONVERSATION_NOT_FOUND")


async def test_a_key_that_names_no_widget_is_not_found(tenant: Tenant) -> None:
    assert_refused(await Page(tenant.client, "wk_nothing").open(), 404, "NOT_FOUND")


async def test_the_widget_goes_with_its_assistant(page: Page, tenant: Tenant) -> None:
    assert (await tenant.client.delete(f"/api/assistants/{tenant.assistant_id}")).status_code == 200

    assert_refused(await page.open(), 404, "NOT_FOUND")


async def test_a_page_of_another_origin_is_refused_without_cors(page: Page, tenant: Tenant, snapshot: Any) -> None:
    before = await snapshot(tenant.account_id)

    for origin in ("https://evil.example.com", "http://shop.example.com", None):
        elsewhere = Page(page.client, page.key, origin)
        answer = await elsewhere.open()
        assert_refused(answer, 403, "FORBIDDEN")
        assert "access-control-allow-origin" not in answer.headers
    preflight = await page.client.options(
        f"/widget/{page.key}/conversations", headers={"Origin": "https://evil.example.com"}
    )

    assert preflight.status_code == 403
    assert "access-control-allow-origin" not in preflight.headers
    assert await snapshot(tenant.account_id) == before


async def test_an_allowed_page_passes_the_preflight(page: Page) -> None:
    answer = await page.client.options(
        f"/widget/{page.key}/conversations",
        headers={"Origin": SHOP, "Access-Control-Request-Method": "POST"},
    )

    assert answer.status_code == 204
    assert answer.headers["access-control-allow-origin"] == SHOP
    assert "X-Replyd-Visitor" in answer.headers["access-control-allow-headers"]


async def test_a_forged_visitor_id_is_refused_and_stores_nothing(page: Page, tenant: Tenant, snapshot: Any) -> None:
    real = await opened(page)
    before = await snapshot(tenant.account_id)
    body, _, signature = real["visitor"].rpartition(".")
    forged = {**real, "visitor": body + "." + signature[::-1]}

    assert_refused(await page.open(visitor=forged["visitor"]), 401, "UNAUTHENTICATED")
    assert_refused(await page.open(visitor=body + ".ünïcödé"), 401, "UNAUTHENTICATED")
    assert_refused(await page.open(visitor="v1.%%%.x"), 401, "UNAUTHENTICATED")
    refused = await page.send(forged, "Hello")

    assert_refused(refused, 401, "UNAUTHENTICATED")
    assert refused.headers["access-control-allow-origin"] == SHOP  # the page can read why
    assert await snapshot(tenant.account_id) == before


async def test_a_signed_identity_continues_that_customers_conversation(
    page: Page, tenant: Tenant, stub_model: StubModel, db: Any
) -> None:
    stub_model.enqueue("Your order left today.", "It arrives Friday.")
    await tenant.reply("Where is my order?", customer="crm-4711")
    async with db() as session:
        secret = await session.scalar(select(Account.widget_secret).where(Account.id == tenant.account_id))
    user_hash = hmac.new(secret.encode(), b"crm-4711", hashlib.sha256).hexdigest()

    identified = await opened(page, user_id="crm-4711", user_hash=user_hash)
    await page.send(identified, "When will it arrive?")

    contents = [m["content"] for m in (await page.history(identified)).json()["messages"]]
    assert contents == ["Where is my order?", "Your order left today.", "When will it arrive?", "It arrives Friday."]
    for wrong in ("0" * 64, "é" * 64):
        assert_refused(await page.open(user_id="crm-4711", user_hash=wrong), 401, "UNAUTHENTICATED")


async def test_a_visitor_over_the_limit_is_refused_and_nothing_is_stored(
    start_server: Callable[..., AbstractContextManager[str]],
    tenant: Tenant,
    make_widget: Callable[..., Any],
    snapshot: Any,
) -> None:
    key = await make_widget(tenant, [SHOP])
    with start_server(widget_visitor_rate_limit="2/minute") as url:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            page = Page(client, key)
            visitor = await opened(page)
            for text in ("one", "two"):
                assert (await page.send(visitor, text)).status_code == 200
            before = await snapshot(tenant.account_id)

            refused = await page.send(visitor, "three")
            other_visitor = await page.send(await opened(page), "hello")

    assert_refused(refused, 429, "RATE_LIMITED")
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.headers["access-control-allow-origin"] == SHOP
    assert other_visitor.status_code == 200
    after = await snapshot(tenant.account_id)
    assert after.messages == before.messages + 2  # the other visitor's message and its reply


async def test_one_address_over_its_limit_is_refused(
    start_server: Callable[..., AbstractContextManager[str]], tenant: Tenant, make_widget: Callable[..., Any]
) -> None:
    key = await make_widget(tenant, [SHOP])
    with start_server(widget_ip_rate_limit="2/minute") as url:
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            page = Page(client, key)
            visitor = await opened(page)  # a new visitor counts
            assert (await page.send(visitor, "one")).status_code == 200

            assert_refused(await page.open(), 429, "RATE_LIMITED")
            assert_refused(await page.send(visitor, "two"), 429, "RATE_LIMITED")


async def test_an_exhausted_balance_is_refused_and_stores_nothing(
    make_tenant: Callable[..., Any], make_widget: Callable[..., Any], snapshot: Any, stub_model: StubModel
) -> None:
    tenant = await make_tenant(balance="0.00")
    page = Page(tenant.client, await make_widget(tenant, [SHOP]))
    visitor = await opened(page)
    before = await snapshot(tenant.account_id)

    refused = await page.send(visitor, "Hello?")

    assert_refused(refused, 402, "INSUFFICIENT_BALANCE")
    assert "balance" not in refused.json()["error"]  # a visitor is not told the account's money
    assert await snapshot(tenant.account_id) == before
    assert stub_model.requests == []


async def test_the_stream_carries_an_agents_message_and_resumes_after_the_last_event(
    page: Page, tenant: Tenant
) -> None:
    visitor = await opened(page)
    agent_path = f"/api/conversations/{visitor['conversation_id']}/agent-messages"
    await tenant.client.post(agent_path, json={"message": "Hi, this is Anna."})

    seen: list[tuple[str, str | None]] = []
    async for name, data, event_id in page.events(visitor):
        if name == "message":
            seen.append((data["content"], event_id))
            break
    await tenant.client.post(agent_path, json={"message": "Still there?"})
    async for name, data, event_id in page.events(visitor, last_event_id=seen[0][1]):
        if name == "message":
            seen.append((data["content"], event_id))
            break

    assert [content for content, _ in seen] == ["Hi, this is Anna.", "Still there?"]
    assert int(seen[1][1] or 0) > int(seen[0][1] or 0)


async def test_the_stream_is_only_the_visitors_own(page: Page) -> None:
    one, other = await opened(page), await opened(page)
    answer = await page.client.get(
        f"/widget/{page.key}/conversations/{one['conversation_id']}/events",
        params={"visitor": other["visitor"]},
        headers=page.headers,
    )

    assert_refused(answer, 404, "CONVERSATION_NOT_FOUND")


async def test_the_script_is_small_cached_and_revalidated(server: str) -> None:
    async with httpx.AsyncClient(base_url=server) as client:
        answer = await client.get("/widget.js", headers={"Accept-Encoding": "gzip"})
        again = await client.get("/widget.js", headers={"If-None-Match": answer.headers["etag"]})

    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/javascript")
    assert answer.headers["cache-control"] == "public, max-age=3600"
    assert len(gzip.compress(answer.content)) < 30 * 1024
    assert again.status_code == 304


async def test_the_widgets_look_is_served_with_its_words(tenant: Tenant, make_widget: Callable[..., Any]) -> None:
    key = await make_widget(tenant, [SHOP], color="#aa3300", language="de", strings={"send": "Los"})
    answer = await tenant.client.get(f"/widget/{key}/settings", headers={"Origin": SHOP})

    widget = answer.json()["widget"]
    assert widget["color"] == "#aa3300"
    assert widget["strings"]["send"] == "Los"
    assert widget["strings"]["placeholder"] == "Ihre Nachricht"


async def test_the_stream_says_the_ai_is_typing_until_its_answer_is_there(page: Page, stub_model: StubModel) -> None:
    gate = threading.Event()
    stub_model.enqueue(Scripted(text="Green tea, mostly.", gate=gate))
    visitor = await opened(page)
    sending = asyncio.create_task(page.send(visitor, "What do you drink?"))

    seen: list[tuple[str, Any]] = []
    async for name, data, _ in page.events(visitor):
        seen.append((name, data.get("typing", data.get("content"))))
        if seen[-1] == ("typing", True):
            gate.set()
        if seen[-1] == ("typing", False) and len(seen) > 2:
            break

    assert (await sending).status_code == 200
    assert [s for s in seen if s[0] == "message"] == [
        ("message", "What do you drink?"),
        ("message", "Green tea, mostly."),
    ]
    assert seen.index(("typing", True)) < seen.index(("message", "Green tea, mostly.")) < len(seen) - 1


async def test_an_agents_message_stored_by_another_server_without_redis_reaches_the_stream_by_its_poll(
    page: Page, tenant: Tenant, start_server: Callable[..., AbstractContextManager[str]]
) -> None:
    visitor = await opened(page)
    with start_server(redis_url=None) as other:  # its notices reach only its own streams
        await tenant.client.post(
            f"{other}/api/conversations/{visitor['conversation_id']}/agent-messages", json={"message": "Anna here."}
        )

    async for name, data, _ in page.events(visitor):
        if name == "message":
            assert data["content"] == "Anna here."
            break


async def first_message(events: Events) -> dict[str, Any]:
    """The stream's first message; an error if the stream ends (after its lifetime) without one."""
    async for name, data, _ in events:
        if name == "message":
            return data
    raise AssertionError("the stream ended without a message")


async def a_listening_visitor(
    server: str, make_tenant: Callable[..., Any], make_widget: Callable[..., Any]
) -> tuple[Tenant, dict[str, Any], Events]:
    """A tenant of ``server``, a visitor of its widget, and the visitor's stream once it has read
    the conversation (its first event) and waits for notices."""
    tenant = await make_tenant(base_url=server)
    page = Page(tenant.client, await make_widget(tenant, [SHOP]))
    visitor = await opened(page)
    events = page.events(visitor)
    name, data, _ = await anext(events)
    assert (name, data) == ("typing", {"typing": False, "by": "ai"})
    return tenant, visitor, events


@pytest.fixture
def quiet_server(start_server: Callable[..., AbstractContextManager[str]]) -> Iterator[str]:
    """A server whose streams read the database only when told to (their poll would come after
    the stream's lifetime): a message they carry came by a notice."""
    with start_server(live_poll_s=600) as url:
        yield url


async def test_an_agents_message_reaches_the_stream_by_its_notice(
    quiet_server: str, make_tenant: Callable[..., Any], make_widget: Callable[..., Any]
) -> None:
    tenant, visitor, events = await a_listening_visitor(quiet_server, make_tenant, make_widget)

    await tenant.client.post(
        f"/api/conversations/{visitor['conversation_id']}/agent-messages", json={"message": "Anna here."}
    )

    assert (await first_message(events))["content"] == "Anna here."
    await events.aclose()


@pytest.fixture
def notices_channel(redis_url: str) -> Iterator[tuple[str, redis.Redis]]:
    """A Redis key prefix of one test's own, and a client that counts the servers listening on it."""
    prefix = f"{RUN_PREFIX}-{uuid.uuid4().hex[:6]}"
    client = redis.Redis.from_url(redis_url)
    yield prefix, client
    client.close()


async def until_listening(servers: int, notices_channel: tuple[str, redis.Redis]) -> None:
    """Wait until ``servers`` servers listen for notices under the test's prefix (one that lost
    Redis subscribes again once a second); an error after half a minute."""
    prefix, client = notices_channel
    channel = f"{prefix}:live"
    for _ in range(300):
        counts = dict(await asyncio.to_thread(client.pubsub_numsub, channel))
        if counts[channel.encode()] == servers:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{servers} servers never came to listen on {channel}")


async def test_with_redis_a_notice_reaches_the_streams_of_another_server(
    redis_url: str,
    notices_channel: tuple[str, redis.Redis],
    start_server: Callable[..., AbstractContextManager[str]],
    make_tenant: Callable[..., Any],
    make_widget: Callable[..., Any],
) -> None:
    on_redis = {"redis_url": redis_url, "redis_key_prefix": notices_channel[0]}
    with start_server(**on_redis, live_poll_s=600) as streaming, start_server(**on_redis) as other:
        await until_listening(2, notices_channel)
        tenant, visitor, events = await a_listening_visitor(streaming, make_tenant, make_widget)
        conversation = f"{other}/api/conversations/{visitor['conversation_id']}"

        typing = await tenant.client.post(f"{conversation}/agent-typing")
        assert typing.status_code == 200, typing.text
        assert typing.json() == {"status": True, "conversation_id": visitor["conversation_id"], "typing": True}
        assert await anext(events) == ("typing", {"typing": True, "by": "agent"}, None)
        await tenant.client.post(f"{conversation}/agent-messages", json={"message": "Anna here."})
        assert (await first_message(events))["content"] == "Anna here."
        await events.aclose()


async def test_after_redis_was_away_the_streams_hear_again_and_nothing_is_lost(
    redis_url: str,
    redis_proxy: TcpProxy,
    notices_channel: tuple[str, redis.Redis],
    start_server: Callable[..., AbstractContextManager[str]],
    make_tenant: Callable[..., Any],
    make_widget: Callable[..., Any],
) -> None:
    prefix = notices_channel[0]
    with (
        start_server(redis_url=redis_url, redis_key_prefix=prefix) as other,
        start_server(redis_url=redis_proxy.url, redis_key_prefix=prefix, live_poll_s=600) as streaming,
    ):
        await until_listening(2, notices_channel)
        tenant, visitor, events = await a_listening_visitor(streaming, make_tenant, make_widget)
        agent_messages = f"{other}/api/conversations/{visitor['conversation_id']}/agent-messages"

        redis_proxy.cut()
        await until_listening(1, notices_channel)
        lost = await tenant.client.post(agent_messages, json={"message": "While Redis was away."})
        assert lost.status_code == 200, lost.text  # stored; its notice reached no stream
        redis_proxy.restore()
        await until_listening(2, notices_channel)
        await tenant.client.post(agent_messages, json={"message": "And after."})

        assert (await first_message(events))["content"] == "While Redis was away."
        assert (await first_message(events))["content"] == "And after."
        await events.aclose()
