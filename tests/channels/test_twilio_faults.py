"""An SMS channel when Twilio is slow, with a real ``replyd serve`` process on a database of the
test's own: a send Twilio does not answer within ``REPLYD_WEBHOOK_TIMEOUT_S`` is given up and
sent again; the customer gets the answer once, it is charged once, and the attempts' log and the
message's status say what happened."""

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from replyd.store.events import Delivery, DeliveryAttempt, EventEndpoint
from replyd.store.tables import LedgerEntry
from tests.channels import process_settings
from tests.channels.test_twilio import connect, delivery_of_answer, post, sms
from tests.events.test_delivery_faults import Launch, TenantOf
from tests.events.test_delivery_faults import launch as launch  # noqa: F401  (the fixture)
from tests.events.test_delivery_faults import own_database as own_database  # noqa: F401  (the fixture)
from tests.events.test_delivery_faults import own_sessions as own_sessions  # noqa: F401  (the fixture)
from tests.events.test_delivery_faults import tenant_of as tenant_of  # noqa: F401  (the fixture)
from tests.servers import StubModel, TwilioApi, eventually


async def test_a_send_twilio_does_not_answer_in_time_is_sent_again_and_reaches_the_customer_once(
    launch: Launch,
    tenant_of: TenantOf,
    own_sessions: async_sessionmaker[AsyncSession],
    stub_model: StubModel,
    twilio_api: TwilioApi,
) -> None:
    settings = process_settings(
        stub_model,
        twilio_api_url=twilio_api.base_url,
        webhook_timeout_s=1,
        webhook_lease_s=5,
        webhook_retry_schedule="0.2,0.2,0.2",
    )
    tenant = await tenant_of(await launch("impatient", **settings))
    channel_id, account, number = await connect(tenant)
    stub_model.enqueue("On its way.")
    twilio_api.stalls.append(3.0)  # the first send: no answer for 3 s (then 503, and nothing sent)
    assert (
        await post(tenant, f"/channels/{channel_id}/twilio", sms(account, number, "+14155550141"))
    ).status_code == 200

    await eventually(lambda: len(twilio_api.to(number)) == 1)

    async def attempts_logged() -> bool:
        return len(await errors_of_attempts(own_sessions, channel_id)) == 2

    await eventually(attempts_logged)
    assert await errors_of_attempts(own_sessions, channel_id) == ["no answer within 1 s", None]
    assert (await delivery_of_answer(tenant) or {}).get("status") == "accepted"
    async with own_sessions() as session:
        charges = await session.scalar(
            select(func.count()).where(LedgerEntry.account_id == tenant.account_id, LedgerEntry.kind == "reply")
        )
    assert charges == 1
    assert [form["Body"] for form in twilio_api.to(number)] == ["On its way."]


async def errors_of_attempts(sessions: async_sessionmaker[AsyncSession], channel_id: int) -> list[str | None]:
    """The error of each attempt at sending on the channel, in order (None: sent)."""
    async with sessions() as session:
        errors = await session.scalars(
            select(DeliveryAttempt.error)
            .join(Delivery, Delivery.id == DeliveryAttempt.delivery_id)
            .join(EventEndpoint, EventEndpoint.id == Delivery.endpoint_id)
            .where(EventEndpoint.channel_id == channel_id)
            .order_by(DeliveryAttempt.id)
        )
        return list(errors)
