"""Per request: an id (the client's X-Request-Id if it is a sane one, else a new one) sent
back in X-Request-Id, one JSON log line, and the request metrics. Pure ASGI, like the other
middleware."""

import logging
import re
import time
import uuid

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from replyd.api.middleware import HttpMiddleware
from replyd.telemetry import Telemetry

log = logging.getLogger("replyd.requests")

SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


class RequestLog(HttpMiddleware):
    def __init__(self, app: ASGIApp, telemetry: Telemetry) -> None:
        super().__init__(app)
        self.telemetry = telemetry

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        request_id = _request_id(scope)
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self._record(scope, request_id, status, time.perf_counter() - started)

    def _record(self, scope: Scope, request_id: str, status: int, seconds: float) -> None:
        route = getattr(scope.get("route"), "path", "unmatched")
        method = scope["method"]
        self.telemetry.requests.labels(route, method, str(status)).inc()
        self.telemetry.request_seconds.labels(route, method).observe(seconds)
        token = scope.get("state", {}).get("token_id")
        fields = {
            "request_id": request_id,
            "method": method,
            "route": route,
            "status": status,
            "duration_ms": round(seconds * 1000, 2),
            "token_id": token,
        }
        log.info("%s %s %s", method, route, status, extra={"fields": fields})


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            text = str(value.decode("latin-1"))
            if SANE_REQUEST_ID.match(text):
                return text
    return uuid.uuid4().hex
