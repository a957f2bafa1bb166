"""Servers that misbehave on cue, for the client's retries: one that answers from a queue of
canned responses, and a proxy in front of a live replyd that lets replyd do the work but
drops the connection instead of passing the answer on."""

import asyncio
import threading
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from tests.servers import serve_in_thread


@dataclass(frozen=True)
class Seen:
    """A request as the server received it."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Canned:
    """Answers each request with the next queued response and records it."""

    answers: deque[Response] = field(default_factory=deque)
    requests: list[Seen] = field(default_factory=list)

    def enqueue(self, *answers: Response) -> None:
        self.answers.extend(answers)

    def app(self) -> Starlette:
        methods = ["GET", "POST", "PATCH", "DELETE"]
        return Starlette(routes=[Route("/{path:path}", self._answer, methods=methods)])

    async def _answer(self, request: Request) -> Response:
        self.requests.append(Seen(request.method, request.url.path, dict(request.headers), await request.body()))
        if not self.answers:
            return PlainTextResponse("nothing scripted", status_code=599)
        return self.answers.popleft()


def envelope(status: int, code: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """An error answer as replyd gives it."""
    body = {"success": False, "error": f"scripted {code}", "error_code": code}
    return JSONResponse(body, status_code=status, headers=headers)


def reply_body(reply: str = "Scripted reply.", customer: str = "c-1") -> dict[str, Any]:
    return {
        "success": True,
        "conversation_id": "5b0f6c1e-3f7a-4e0b-9a43-2d7f4c1f9e21",
        "customer_identifier": customer,
        "reply": reply,
        "function_calls": [],
        "ai_disabled": False,
    }


@contextmanager
def canned_server() -> Iterator[tuple[Canned, str]]:
    canned = Canned()
    with serve_in_thread(canned.app()) as url:
        yield canned, url


@dataclass
class DroppingProxy:
    """Forwards each request to ``upstream`` and waits for its whole answer, so the work is
    done and stored; then, for the first ``drops`` requests, closes the connection without
    sending a byte. Later requests get the answer. One request per connection."""

    upstream: str
    drops: int = 1
    requests: list[Seen] = field(default_factory=list)
    answers: list[httpx.Response] = field(default_factory=list)
    """What upstream answered to each request, dropped or not."""

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            seen = await _read_request(reader)
            self.requests.append(seen)
            forwarded = {k: v for k, v in seen.headers.items() if k not in {"host", "content-length", "connection"}}
            async with httpx.AsyncClient(base_url=self.upstream, timeout=30) as upstream:
                answer = await upstream.request(seen.method, seen.path, headers=forwarded, content=seen.body)
            self.answers.append(answer)
            if len(self.requests) > self.drops:
                writer.write(_serialize(answer))
                await writer.drain()
        finally:
            writer.close()


async def _read_request(reader: asyncio.StreamReader) -> Seen:
    head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
    request_line, *header_lines = head.split("\r\n")
    method, target, _ = request_line.split(" ", 2)
    headers = {}
    for line in header_lines:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return Seen(method, target, headers, body)


def _serialize(response: httpx.Response) -> bytes:
    skip = {"content-length", "content-encoding", "transfer-encoding", "connection"}
    lines = [f"HTTP/1.1 {response.status_code} {response.reason_phrase}"]
    lines += [f"{name}: {value}" for name, value in response.headers.items() if name.lower() not in skip]
    lines += [f"Content-Length: {len(response.content)}", "Connection: close"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + response.content


@contextmanager
def dropping_proxy(upstream: str, drops: int = 1) -> Iterator[tuple[DroppingProxy, str]]:
    """Run a ``DroppingProxy`` on its own event loop in a thread; yields it and its base URL."""
    proxy = DroppingProxy(upstream, drops)
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    ports: list[int] = []

    def run() -> None:
        server = loop.run_until_complete(asyncio.start_server(proxy.handle, "127.0.0.1", 0))
        ports.append(server.sockets[0].getsockname()[1])
        ready.set()
        loop.run_forever()
        server.close()
        loop.run_until_complete(server.wait_closed())
        loop.close()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    if not ready.wait(10):
        raise RuntimeError("the proxy failed to start")
    try:
        yield proxy, f"http://127.0.0.1:{ports[0]}"
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
