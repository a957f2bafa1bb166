"""The services of replyd, built once per process and shared by its front-ends: the API's
routes, the browser console and the command line all act through them, so every rule (the
conversation lock, validation, limits, charging) holds whichever front-end is used.

Layers point one way: front-ends -> services -> reply engine -> store, with the model providers
and the functions below the engine; nothing below imports what is above it."""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from redis.asyncio import Redis
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from replyd.channels.sealing import Sealer
from replyd.channels.sending import ChannelSender, PlatformUrls
from replyd.engine.abandoned import AbandonedReplies
from replyd.engine.idempotency import IdempotencyClaims
from replyd.engine.reply import ReplyEngine
from replyd.engine.summary_ahead import SummariesAhead
from replyd.events.delivery import EventDelivery
from replyd.functions.ssrf import AddressGuard
from replyd.functions.webhook import WebhookCaller
from replyd.limits import ConversationLocks, Locks, RateLimiter, redis_client
from replyd.notices import Notices
from replyd.outbound import Outbound
from replyd.providers.registry import ProviderRegistry
from replyd.redis_lock import RedisConversationLocks
from replyd.services.accounts import AccountService
from replyd.services.assistants import AssistantService
from replyd.services.canned_replies import CannedReplyService
from replyd.services.channels import ChannelService
from replyd.services.conversations import ConversationService
from replyd.services.idle_resume import IdleResume
from replyd.services.labels import LabelService
from replyd.services.notes import NoteService
from replyd.services.operators import OperatorSessions
from replyd.services.reads import ReadService
from replyd.services.reply_limits import ReplyLimits
from replyd.services.upkeep import Upkeep
from replyd.services.usage import UsageService
from replyd.services.webhooks import WebhookService
from replyd.services.widgets import WidgetService
from replyd.settings import Settings
from replyd.store.session import create_engine, session_factory
from replyd.telemetry import Telemetry


@dataclass
class Services:
    settings: Settings
    db: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]
    providers: ProviderRegistry
    outbound: Outbound
    channel_sender: ChannelSender
    redis: Redis | None
    notices: Notices
    limiter: RateLimiter
    reply_limits: ReplyLimits
    replies: ReplyEngine
    conversations: ConversationService
    notes: NoteService
    labels: LabelService
    reads: ReadService
    canned_replies: CannedReplyService
    assistants: AssistantService
    accounts: AccountService
    usage: UsageService
    operators: OperatorSessions
    abandoned: AbandonedReplies
    idle_resume: IdleResume
    webhooks: WebhookService
    channels: ChannelService
    widgets: WidgetService
    event_delivery: EventDelivery
    upkeep: Upkeep
    telemetry: Telemetry
    background: list[asyncio.Task[None]] = field(default_factory=list)

    @classmethod
    def build(cls, settings: Settings, telemetry: Telemetry) -> "Services":
        """Connects to nothing yet: the database, Redis and the model are reached on first use."""
        db = create_engine(settings.database_url)
        sessions = session_factory(db)
        providers = ProviderRegistry(settings, telemetry)
        redis = redis_client(settings.redis_url) if settings.redis_url else None
        locks: Locks = (
            RedisConversationLocks(
                redis, lease_ms=int(settings.lock_lease_s * 1000), prefix=f"{settings.redis_key_prefix}:lock:"
            )
            if redis
            else ConversationLocks()
        )
        notices = Notices(redis, f"{settings.redis_key_prefix}:live")
        outbound = Outbound(AddressGuard.from_setting(settings.webhook_allow))
        sealer = Sealer(settings.channel_key)
        platform_urls = PlatformUrls(
            settings.telegram_api_url, settings.whatsapp_api_url, settings.twilio_api_url, settings.public_url
        )
        channel_sender = ChannelSender(sessions, sealer, platform_urls)
        limiter = RateLimiter(settings.redis_url, settings.redis_key_prefix)
        reply_limits = ReplyLimits(limiter, settings.rate_limit, telemetry)
        conversation_service = ConversationService(sessions, locks, notices, settings.max_message_chars)
        replies = ReplyEngine(
            db,
            providers,
            locks,
            IdempotencyClaims(sessions, settings),
            WebhookCaller(outbound),
            telemetry,
            notices,
            SummariesAhead(sessions, telemetry) if settings.summaries_ahead else None,
        )
        return cls(
            settings=settings,
            db=db,
            sessions=sessions,
            providers=providers,
            outbound=outbound,
            channel_sender=channel_sender,
            redis=redis,
            notices=notices,
            limiter=limiter,
            reply_limits=reply_limits,
            replies=replies,
            conversations=conversation_service,
            notes=NoteService(sessions),
            labels=LabelService(sessions),
            reads=ReadService(sessions),
            canned_replies=CannedReplyService(sessions, settings.max_message_chars),
            assistants=AssistantService(sessions),
            accounts=AccountService(sessions),
            usage=UsageService(sessions),
            operators=OperatorSessions(sessions),
            abandoned=AbandonedReplies(sessions, locks, settings.abandoned_reply_s),
            idle_resume=IdleResume(sessions, conversation_service),
            webhooks=WebhookService(sessions),
            channels=ChannelService(
                sessions, sealer, replies, settings.max_message_chars, settings.channel_answer_after_s
            ),
            widgets=WidgetService(
                sessions,
                conversation_service,
                replies,
                reply_limits,
                settings.widget_visitor_rate_limit,
                settings.widget_ip_rate_limit,
            ),
            event_delivery=EventDelivery(
                sessions,
                outbound,
                channel_sender,
                settings.webhook_retry_schedule_s,
                settings.webhook_disable_after_s,
                settings.webhook_timeout_s,
                settings.webhook_lease_s,
                settings.event_round_s,
            ),
            upkeep=Upkeep(db, sessions, conversation_service, settings.idempotency_ttl_s, settings.webhook_log_days),
            telemetry=telemetry,
        )

    def start_background_work(self) -> None:
        """What a serving process does besides answering: sweeping abandoned replies, giving
        idle conversations their AI back, delivering events, answering channel messages a
        stopped process left, the database's upkeep, and hearing other processes' live notices."""
        self.background.append(asyncio.create_task(self.abandoned.sweep_forever(), name="replyd-sweep"))
        self.background.append(asyncio.create_task(self.idle_resume.sweep_forever(), name="replyd-resume"))
        self.background.append(asyncio.create_task(self.event_delivery.run_forever(), name="replyd-events"))
        self.background.append(asyncio.create_task(self.channels.answer_forgotten_forever(), name="replyd-channels"))
        self.background.append(asyncio.create_task(self.upkeep.run_forever(), name="replyd-upkeep"))
        self.background.append(asyncio.create_task(self.notices.hear_forever(), name="replyd-notices"))

    @classmethod
    @asynccontextmanager
    async def running(cls, settings: Settings) -> AsyncIterator["Services"]:
        """Services for one command-line command, closed when it ends."""
        services = cls.build(settings, Telemetry())
        try:
            yield services
        finally:
            await services.aclose()

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
        for task in self.background:
            task.cancel()
        await asyncio.gather(*self.background, return_exceptions=True)
        await self.replies.drain(self.settings.shutdown_grace_s)
        await self.notices.drain()
        if self.redis is not None:
            await self.redis.aclose()
        await self.outbound.aclose()
        await self.channel_sender.aclose()
        await self.providers.aclose()
        await self.db.dispose()
