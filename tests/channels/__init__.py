"""What the channels' tests share."""

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from replyd.store.channels import ChannelInbound
from tests.conftest import CHANNEL_KEY
from tests.servers import StubModel


async def count(db: async_sessionmaker[AsyncSession], model: Any, *where: Any) -> int:
    async with db() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def answered_one(db: async_sessionmaker[AsyncSession], channel_id: int) -> bool:
    """Whether the channel's one kept message is answered."""
    where = (ChannelInbound.channel_id == channel_id, ChannelInbound.answered_at.is_not(None))
    return await count(db, ChannelInbound, *where) == 1


def process_settings(stub_model: StubModel, **more: Any) -> dict[str, Any]:
    """The settings of a ``replyd serve`` process on a test's own database that answers a
    channel's messages with the stub model (``launch(name, **settings)``)."""
    return {
        "openai_base_url": stub_model.base_url,  # type: ignore[attr-defined]
        "openai_api_key": "test-key",
        "model_retries": 0,
        "channel_key": CHANNEL_KEY,
    } | more
