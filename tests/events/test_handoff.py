"""The handoff workflow: a handoff waits for a human until an agent answers or the AI is back;
it is listed apart from takeovers; the AI comes back by itself after the assistant's idle time,
unless a human is still writing; every switch is told with who and why."""

from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from replyd.clock import utcnow
from replyd.limits import ConversationLocks
from replyd.notices import Notices
from replyd.services.conversations import ConversationService
from tests.conftest import Tenant
from tests.events.test_events import subscribe
from tests.servers import EventReceiver, eventually


async def conversation(tenant: Tenant, conversation_id: str) -> dict[str, Any]:
    response = await tenant.client.get(f"/api/conversations/{conversation_id}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def needing_a_human(tenant: Tenant) -> list[str]:
    page = (await tenant.client.get("/api/user/conversations", params={"needs_human": "true"})).json()
    return [row["id"] for row in page["data"]]


async def test_a_handoff_needs_a_human_until_an_agent_answers(make_tenant: Any) -> None:
    tenant: Tenant = await make_tenant(handoff_triggers=["agent"])
    handed = (await tenant.reply("an agent please", customer="h-1")).json()
    (await tenant.reply("just a question", customer="h-2")).json()
    taken = (await tenant.reply("another question", customer="h-3")).json()
    disabled = await tenant.client.post(f"/api/automate/conversations/{taken['conversation_id']}/disable-ai")
    assert disabled.status_code == 200

    assert await needing_a_human(tenant) == [handed["conversation_id"]]
    taken_over = await conversation(tenant, taken["conversation_id"])
    assert (taken_over["ai_disabled_by"], taken_over["needs_human"]) == ("operator", False)

    path = f"/api/conversations/{handed['conversation_id']}/agent-messages"
    assert (await tenant.client.post(path, json={"message": "Hi, Anna here."})).status_code == 200
    assert await needing_a_human(tenant) == []
    answered = await conversation(tenant, handed["conversation_id"])
    assert answered["ai_enabled"] is False and answered["ai_disabled_by"] == "rule"

    enabled = await tenant.client.post(f"/api/automate/conversations/{handed['conversation_id']}/enable-ai")
    assert enabled.status_code == 200
    back = await conversation(tenant, handed["conversation_id"])
    assert (back["ai_enabled"], back["ai_disabled_by"], back["ai_disabled_reason"]) == (True, None, None)


async def test_the_ai_comes_back_by_itself_after_the_idle_time(
    make_tenant: Any, receiver: tuple[EventReceiver, str]
) -> None:
    tenant: Tenant = await make_tenant(handoff_triggers=["agent"], resume_ai_after_s=1)
    inbox, url = receiver
    await subscribe(tenant, inbox, url, ["conversation.ai_enabled"])
    handed = (await tenant.reply("an agent please", customer="h-4")).json()
    assert handed["ai_disabled"] is True

    await eventually(lambda: len(inbox.payloads()) == 1)
    data = inbox.payloads()[0]["data"]
    assert (data["by"], data["who"]) == ("idle", "replyd") and "No human wrote since" in data["reason"]
    assert data["conversation"]["ai_enabled"] is True
    again = (await tenant.reply("what about my order?", customer="h-4")).json()
    assert again["ai_disabled"] is False and again["reply"]


async def test_an_agent_writing_keeps_the_ai_off(
    make_tenant: Any, db: async_sessionmaker[AsyncSession], receiver: tuple[EventReceiver, str]
) -> None:
    """The sweep found the conversation idle, but an agent wrote before it took the lock."""
    tenant: Tenant = await make_tenant(handoff_triggers=["agent"], resume_ai_after_s=3600)
    inbox, url = receiver
    await subscribe(tenant, inbox, url, ["conversation.ai_enabled"])
    conversation_id = (await tenant.reply("an agent please", customer="h-5")).json()["conversation_id"]
    found_idle_before = utcnow()
    path = f"/api/conversations/{conversation_id}/agent-messages"
    assert (await tenant.client.post(path, json={"message": "I'm here."})).status_code == 200

    service = ConversationService(db, ConversationLocks(), Notices(None, "replyd-test:live"), 32_000)
    assert await service.resume_idle(conversation_id, found_idle_before) is False
    assert (await conversation(tenant, conversation_id))["ai_enabled"] is False

    assert await service.resume_idle(conversation_id, utcnow() + timedelta(seconds=1)) is True
    assert (await conversation(tenant, conversation_id))["ai_enabled"] is True
    assert await service.resume_idle(conversation_id, utcnow() + timedelta(seconds=1)) is False, "resumed twice"
    await eventually(lambda: len(inbox.payloads()) == 1)

    assert (await tenant.client.delete(f"/api/conversations/{conversation_id}")).status_code == 200
    assert await service.resume_idle(conversation_id, utcnow()) is False, "an erased conversation is left alone"


async def test_a_takeover_and_a_hand_back_say_who(tenant: Tenant, receiver: tuple[EventReceiver, str]) -> None:
    inbox, url = receiver
    await subscribe(tenant, inbox, url, ["conversation.ai_disabled", "conversation.ai_enabled"])
    conversation_id = (await tenant.reply("hello", customer="h-6")).json()["conversation_id"]
    for action in ("disable-ai", "enable-ai"):
        response = await tenant.client.post(f"/api/automate/conversations/{conversation_id}/{action}")
        assert response.status_code == 200
    await eventually(lambda: len(inbox.payloads()) == 2)
    told = [(p["type"], p["data"]["by"], p["data"]["who"]) for p in inbox.payloads()]
    who = f"api token {tenant.token_id}"
    assert told == [("conversation.ai_disabled", "operator", who), ("conversation.ai_enabled", "operator", who)]
