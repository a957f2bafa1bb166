"""A small, lifelike account for the console's screenshots: two assistants, conversations
with a function call, a takeover with a human agent's answer and a handoff, a test chat,
and a month of spend."""

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from replyd.clock import utcnow
from replyd.store import ledger
from replyd.store.tables import LedgerEntry
from tests.conftest import STUB_MODEL, Tenant
from tests.servers import Scripted, StubModel

PROMPT = "You are the support assistant of Bob's Bikes, a bicycle shop. The customer is {{customer_name}}."
DAY = {"type": "object", "properties": {"day": {"type": "string"}}, "required": ["day"]}


@dataclass(frozen=True)
class Demo:
    tenant: Tenant
    featured_conversation: str
    test_chat: str


async def make_demo_account(
    make_tenant: Callable[..., Any], stub_model: StubModel, db: async_sessionmaker[AsyncSession], hours_url: str
) -> Demo:
    tenant: Tenant = await make_tenant(
        balance="25.00",
        name="Bob's Bikes support",
        system_prompt=PROMPT,
        input_price_per_million_tokens="0.15",
        output_price_per_million_tokens="0.60",
        handoff_enabled=True,
        functions=[
            {
                "name": "check_opening_hours",
                "description": "Opening hours of a day",
                "parameters": DAY,
                "url": hours_url,
            }
        ],
    )
    made = await tenant.client.post("/api/assistants", json={"name": "E-bike sales", "model": STUB_MODEL})
    sales = made.json()["assistant"]["id"]

    stub_model.enqueue(
        Scripted(text="Hello! This is Bob's Bikes. Ask me anything about your bike.", usage=(180, 14)),
        Scripted(text="Hi Anna! Yes, the Cargo Pro e-bike is in stock in blue and black.", usage=(240, 19)),
        Scripted(tool_calls=[("handoff_to_human", {"reason": "complaint about a repair"})], usage=(310, 12)),
        Scripted(tool_calls=[("check_opening_hours", {"day": "Saturday"})], usage=(380, 22)),
        Scripted(
            text="Yes, John: on Saturday we are open from 9:00 to 14:00. Shall I reserve a brake check for you?",
            usage=(455, 31),
        ),
    )
    chat = await tenant.client.post("/api/conversations", json={"assistant_id": tenant.assistant_id, "type": "test"})
    test_chat = chat.json()["conversation_id"]
    await tenant.client.post(f"/api/conversations/{test_chat}/messages", json={"message": "Hello, is this the shop?"})
    await tenant.client.post(
        "/api/ai/generate-reply",
        json={
            "assistant_id": sales,
            "customer_identifier": "+447700900123",
            "message": "Do you have the Cargo Pro in stock?",
            "variables": {"customer_name": "Anna", "source": "sms"},
        },
    )
    await tenant.reply(
        "My repair from last week already broke again. I want to talk to a person!", customer="+31612345678"
    )
    featured = await tenant.reply(
        "Hi! Are you open on Saturday? My brakes are squeaking.",
        customer="+49155551234",
        variables={"customer_name": "John", "source": "whatsapp"},
    )
    conversation_id = featured.json()["conversation_id"]
    await tenant.client.post(f"/api/automate/conversations/{conversation_id}/disable-ai")
    await tenant.reply("Great. Can I bring my daughter's bike too?", customer="+49155551234")
    await tenant.client.post(
        f"/api/conversations/{conversation_id}/agent-messages",
        json={"message": "Hi John, Maria from the workshop here. Of course, bring both; we'll see you at 10."},
    )
    await _month_of_spend(db, tenant, sales)
    return Demo(tenant, conversation_id, test_chat)


async def _month_of_spend(db: async_sessionmaker[AsyncSession], tenant: Tenant, sales: int) -> None:
    """Charges on earlier days, so the per-day chart has a shape."""
    now = utcnow()
    async with db() as session, session.begin():
        for days_ago in range(1, 22):
            for assistant_id, replies in ((tenant.assistant_id, 3 + days_ago % 5), (sales, 1 + days_ago % 3)):
                for n in range(replies):
                    entry_id = await ledger.record(
                        session,
                        tenant.account_id,
                        "reply",
                        -(10_000 + 150 * (days_ago + n)),
                        assistant_id=assistant_id,
                        prompt_tokens=400,
                        completion_tokens=30,
                    )
                    await session.execute(
                        update(LedgerEntry)
                        .where(LedgerEntry.id == entry_id)
                        .values(created_at=now - timedelta(days=days_ago, hours=n))
                    )
