"""Pure ASGI middleware (no per-request task, unlike BaseHTTPMiddleware)."""

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from replyd.api.deps import RATE_LIMIT_HEADERS


class HttpMiddleware:
    """Base of replyd's middleware: ``handle`` sees each HTTP request; lifespan events and
    anything else pass straight through to the app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            await self.handle(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        raise NotImplementedError


class RateLimitHeaders(HttpMiddleware):
    """Puts the X-RateLimit-* headers the limiter left in ``request.state`` on the answer,
    success or error alike, unless the answer has its own (a refusal by the limit)."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                extra = scope.get("state", {}).get(RATE_LIMIT_HEADERS)
                has_own = any(name == b"x-ratelimit-limit" for name, _ in message.get("headers", []))
                if extra and not has_own:
                    message["headers"] = [
                        *message.get("headers", []),
                        *((name.lower().encode(), value.encode()) for name, value in extra.items()),
                    ]
            await send(message)

        await self.app(scope, receive, send_with_headers)
