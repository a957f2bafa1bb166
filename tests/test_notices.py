"""Live notices between the code that stores a change and the streams waiting for it: in one
process, and through a real Redis between processes (here: two ``Notices``, as two processes
have, on one channel)."""

import asyncio
import json
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from replyd.limits import redis_client
from replyd.notices import AGENT_TYPING, CHANGED, Notices


@pytest.fixture
async def channel() -> str:
    return f"replyd-test-{uuid.uuid4().hex[:8]}:live"


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = redis_client(redis_url)
    yield client
    await client.aclose()


async def test_a_notice_reaches_the_streams_of_its_conversation_and_no_other() -> None:
    notices = Notices(None, "unused")
    with notices.listening("c1") as one, notices.listening("c1") as same, notices.listening("c2") as other:
        notices.tell("c1")
        notices.tell("c1", AGENT_TYPING)

        assert await one.next(1) == {CHANGED, AGENT_TYPING}
        assert await same.next(1) == {CHANGED, AGENT_TYPING}
        assert await other.next(0.05) == set()


async def test_through_redis_another_process_hears_it_once_and_the_teller_too(redis: Redis, channel: str) -> None:
    here, there = Notices(redis, channel), Notices(redis, channel)
    hearing = [asyncio.create_task(notices.hear_forever()) for notices in (here, there)]
    await until_subscribed(redis, channel, 2)
    try:
        with here.listening("c1") as mine, there.listening("c1") as theirs:
            here.tell("c1", AGENT_TYPING)

            assert await theirs.next(5) == {AGENT_TYPING}
            assert await mine.next(5) == {AGENT_TYPING}
            here.tell("c1")
            assert await theirs.next(5) == {CHANGED}
            assert await mine.next(0.2) == {CHANGED}  # its own, told once: not again through Redis
            assert await mine.next(0.2) == set()
    finally:
        for task in hearing:
            task.cancel()


async def test_a_notice_told_just_before_closing_is_published(redis: Redis, channel: str) -> None:
    """As a command-line command does: tell, then close at once."""
    async with redis.pubsub(ignore_subscribe_messages=True) as subscription:
        await subscription.subscribe(channel)
        notices = Notices(redis, channel)
        notices.tell("c1")
        await notices.drain()

        messages = [await subscription.get_message(timeout=1) for _ in range(3)]  # the first: its subscription
        assert [json.loads(m["data"])[1:] for m in messages if m] == [["c1", CHANGED]]


async def until_subscribed(redis: Redis, channel: str, count: int) -> None:
    for _ in range(100):
        if dict(await redis.pubsub_numsub(channel))[channel.encode()] == count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"{count} subscribers never came")
