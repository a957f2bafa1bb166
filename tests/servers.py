"""Real servers for tests and benchmarks, on 127.0.0.1 with a free port: a uvicorn thread
that runs any ASGI app, and a scriptable OpenAI-compatible chat-completions model."""

import asyncio
import json
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from starlette.types import ASGIApp


@contextmanager
def serve_in_thread(app: ASGIApp) -> Iterator[str]:
    """Run ``app`` with uvicorn on a free loopback port; yields its base URL."""
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="on")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        if not thread.is_alive():
            raise RuntimeError("the test server failed to start")
        time.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@dataclass
class Scripted:
    """One queued answer of the stub model."""

    text: str | None = None
    status: int = 200
    body: str | None = None
    """Raw body to send instead of a chat completion (for garbage answers)."""
    delay_s: float = 0.0
    gate: threading.Event | None = None
    """If set, the answer waits until the test sets this event."""
    usage: tuple[int, int] | None = None


@dataclass
class StubModel:
    """An OpenAI-compatible model that answers from a queue (or echoes the last user
    message) and records every request it receives."""

    queue: deque[Scripted] = field(default_factory=deque)
    requests: list[dict[str, Any]] = field(default_factory=list)
    arrived: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))
    """Released once per request received, so tests can wait for a call to arrive."""

    def enqueue(self, *answers: Scripted | str) -> None:
        self.queue.extend(Scripted(text=a) if isinstance(a, str) else a for a in answers)

    def reset(self) -> None:
        self.queue.clear()
        self.requests.clear()
        self.arrived = threading.Semaphore(0)

    def wait_for_request(self, timeout_s: float = 10) -> None:
        if not self.arrived.acquire(timeout=timeout_s):
            raise AssertionError("the model was not called")

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/v1/chat/completions", self._complete, methods=["POST"])])

    async def _complete(self, request: Request) -> Response:
        payload = await request.json()
        self.requests.append(payload)
        self.arrived.release()
        answer = self.queue.popleft() if self.queue else Scripted()
        if answer.gate is not None:
            await asyncio.to_thread(answer.gate.wait, 30)
        if answer.delay_s:
            await asyncio.sleep(answer.delay_s)
        if answer.body is not None:
            return PlainTextResponse(answer.body, status_code=answer.status, media_type="application/json")
        if answer.status != 200:
            return JSONResponse({"error": {"message": "scripted failure"}}, status_code=answer.status)
        return JSONResponse(completion(payload, answer))


def echo_text(payload: dict[str, Any]) -> str:
    last_user = [m["content"] for m in payload["messages"] if m["role"] == "user"][-1]
    return f"echo: {last_user}"


def completion(payload: dict[str, Any], answer: Scripted) -> dict[str, Any]:
    text = answer.text if answer.text is not None else echo_text(payload)
    prompt_tokens, completion_tokens = answer.usage or (
        sum(len(m["content"]) for m in payload["messages"]) // 4,
        len(text) // 4,
    )
    return {
        "id": "chatcmpl-stub",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": payload["model"],
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


def dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))
