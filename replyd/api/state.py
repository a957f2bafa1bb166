"""Everything a request needs that lives as long as the app: built once by the app's lifespan."""

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from replyd.engine.idempotency import IdempotentRunner
from replyd.engine.reply import ReplyEngine
from replyd.limits import ConversationLocks, RateLimiter
from replyd.providers.registry import ProviderRegistry
from replyd.settings import Settings
from replyd.store.session import create_engine, session_factory


@dataclass
class AppState:
    settings: Settings
    db: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    providers: ProviderRegistry
    limiter: RateLimiter
    replies: ReplyEngine
    idempotency: IdempotentRunner

    @classmethod
    def build(cls, settings: Settings) -> "AppState":
        db = create_engine(settings.database_url)
        sessions = session_factory(db)
        providers = ProviderRegistry(settings)
        return cls(
            settings=settings,
            db=db,
            sessions=sessions,
            providers=providers,
            limiter=RateLimiter(),
            replies=ReplyEngine(sessions, providers, ConversationLocks()),
            idempotency=IdempotentRunner(sessions, settings),
        )

    async def aclose(self) -> None:
        await self.providers.aclose()
        await self.db.dispose()
