"""Each token's generate-reply limit (REPLYD_RATE_LIMIT unless the token has its own): the API's
reply endpoints and the console's test chat count against the same window. The chat widget's
visitors and addresses are counted here too, under keys of their own."""

from replyd.errors import RateLimited
from replyd.limits import RateDecision, RateLimiter
from replyd.telemetry import Telemetry


class ReplyLimits:
    def __init__(self, limiter: RateLimiter, default_rate: str, telemetry: Telemetry) -> None:
        self._limiter = limiter
        self._default_rate = default_rate
        self._telemetry = telemetry

    async def count(self, token_id: int, rate_limit: str | None) -> RateDecision:
        """Count one reply; ``RateLimited`` (carrying the count's headers) when over the limit."""
        return await self.count_as(_key(token_id), rate_limit or self._default_rate)

    async def count_as(self, key: str, rate: str) -> RateDecision:
        """Count one reply asked for by ``key`` (a token, a widget's visitor, an address), at ``rate``."""
        decision = await self._limiter.hit(key, rate)
        if not decision.is_allowed:
            self._telemetry.rate_limited.inc()
            raise RateLimited(decision.retry_after_s, decision.headers)
        return decision

    async def peek(self, token_id: int, rate_limit: str | None) -> RateDecision:
        """Where the token's count stands, without counting a call."""
        return await self._limiter.peek(_key(token_id), rate_limit or self._default_rate)

    def rate_of(self, rate_limit: str | None) -> str:
        return rate_limit or self._default_rate


def _key(token_id: int) -> str:
    return f"reply:{token_id}"
