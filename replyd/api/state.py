"""Everything a request needs that lives as long as the app: built once by the app's lifespan."""

from dataclasses import dataclass

import httpx
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from replyd.engine.assistants import AssistantService
from replyd.engine.conversations import ConversationService
from replyd.engine.idempotency import IdempotentRunner
from replyd.engine.reply import ReplyEngine
from replyd.engine.usage import UsageService
from replyd.functions.ssrf import AddressGuard
from replyd.functions.webhook import WebhookCaller
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
    webhook_client: httpx.AsyncClient
    limiter: RateLimiter
    replies: ReplyEngine
    idempotency: IdempotentRunner
    conversations: ConversationService
    assistants: AssistantService
    usage: UsageService

    @classmethod
    def build(cls, settings: Settings) -> "AppState":
        db = create_engine(settings.database_url)
        sessions = session_factory(db)
        providers = ProviderRegistry(settings)
        locks = ConversationLocks()
        # trust_env=False: a proxy from the environment would connect on our behalf, around the address guard.
        webhook_client = httpx.AsyncClient(trust_env=False, limits=httpx.Limits(max_connections=200))
        webhooks = WebhookCaller(webhook_client, AddressGuard.from_setting(settings.webhook_allow))
        return cls(
            settings=settings,
            db=db,
            sessions=sessions,
            providers=providers,
            webhook_client=webhook_client,
            limiter=RateLimiter(),
            replies=ReplyEngine(sessions, providers, locks, webhooks),
            idempotency=IdempotentRunner(sessions, settings),
            conversations=ConversationService(sessions, locks),
            assistants=AssistantService(sessions),
            usage=UsageService(sessions),
        )

    async def aclose(self) -> None:
        await self.webhook_client.aclose()
        await self.providers.aclose()
        await self.db.dispose()
