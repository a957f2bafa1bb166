"""Everything a request needs that lives as long as the app: built once by the app's lifespan."""

from dataclasses import dataclass

import httpx
from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from replyd.engine.assistants import AssistantService
from replyd.engine.conversations import ConversationService
from replyd.engine.idempotency import IdempotencyClaims
from replyd.engine.reply import ReplyEngine
from replyd.engine.summary_ahead import SummariesAhead
from replyd.engine.usage import UsageService
from replyd.functions.ssrf import AddressGuard
from replyd.functions.webhook import WebhookCaller
from replyd.limits import ConversationLocks, Locks, RateLimiter
from replyd.providers.registry import ProviderRegistry
from replyd.redis_lock import RedisConversationLocks
from replyd.settings import Settings
from replyd.store.session import create_engine, session_factory
from replyd.telemetry import Telemetry


@dataclass
class AppState:
    settings: Settings
    db: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    providers: ProviderRegistry
    webhook_client: httpx.AsyncClient
    redis: Redis | None
    limiter: RateLimiter
    replies: ReplyEngine
    conversations: ConversationService
    assistants: AssistantService
    usage: UsageService
    telemetry: Telemetry

    @classmethod
    def build(cls, settings: Settings, telemetry: Telemetry) -> "AppState":
        db = create_engine(settings.database_url)
        sessions = session_factory(db)
        providers = ProviderRegistry(settings, telemetry)
        redis = Redis.from_url(settings.redis_url) if settings.redis_url else None
        locks: Locks = (
            RedisConversationLocks(
                redis, lease_ms=int(settings.lock_lease_s * 1000), prefix=f"{settings.redis_key_prefix}:lock:"
            )
            if redis
            else ConversationLocks()
        )
        # trust_env=False: a proxy from the environment would connect on our behalf, around the address guard.
        webhook_client = httpx.AsyncClient(trust_env=False, limits=httpx.Limits(max_connections=200))
        webhooks = WebhookCaller(webhook_client, AddressGuard.from_setting(settings.webhook_allow))
        return cls(
            settings=settings,
            db=db,
            sessions=sessions,
            providers=providers,
            webhook_client=webhook_client,
            redis=redis,
            limiter=RateLimiter(settings.redis_url, settings.redis_key_prefix),
            replies=ReplyEngine(
                db,
                providers,
                locks,
                IdempotencyClaims(sessions, settings),
                webhooks,
                telemetry,
                SummariesAhead(sessions, telemetry) if settings.summaries_ahead else None,
            ),
            conversations=ConversationService(sessions, locks),
            assistants=AssistantService(sessions),
            usage=UsageService(sessions),
            telemetry=telemetry,
        )

    async def readiness(self) -> dict[str, bool]:
        """Whether each backing service answers: the database, and Redis when configured."""
        checks = {"database": await self._database_answers()}
        if self.redis is not None:
            checks["redis"] = await self.limiter.is_reachable()
        return checks

    async def _database_answers(self) -> bool:
        try:
            async with self.db.connect() as connection:
                await connection.execute(text("SELECT 1"))
        except Exception:  # any failure means "not ready"; the probe must not raise
            return False
        return True

    async def aclose(self) -> None:
        await self.replies.drain(self.settings.shutdown_grace_s)
        if self.redis is not None:
            await self.redis.aclose()
        await self.webhook_client.aclose()
        await self.providers.aclose()
        await self.db.dispose()
