"""Real servers for tests and benchmarks, on 127.0.0.1 with a free port: a uvicorn thread
that runs any ASGI app, a scriptable OpenAI-compatible chat-completions model, and a TCP
proxy that can drop its connections (a backing service going away)."""

import asyncio
import base64
import contextlib
import inspect
import json
import random
import socket
import threading
import time
from collections import Counter, defaultdict, deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import uvicorn
from standardwebhooks import Webhook as StandardWebhook
from standardwebhooks import WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp
from twilio.request_validator import RequestValidator


@contextmanager
def serve_in_thread(app: ASGIApp, port: int = 0) -> Iterator[str]:
    """Run ``app`` with uvicorn on a loopback port (by default a free one); yields its base URL."""
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
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


async def eventually(condition: Callable[[], bool | Awaitable[bool]], timeout_s: float = 20) -> None:
    """Wait until ``condition`` (sync or async) holds: for what a server does on its own schedule
    (delivering events, sweeping). Fails the test after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        held = condition()
        if await held if inspect.isawaitable(held) else held:
            return
        assert time.monotonic() < deadline, "it did not happen in time"
        await asyncio.sleep(0.1)


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
    tool_calls: list[tuple[str, Any]] | None = None
    """Function calls to ask for instead of text: (name, arguments as a dict or raw JSON text)."""


@dataclass
class StubModel:
    """An OpenAI-compatible model that answers from a queue (or echoes the last user
    message) and records every request it receives."""

    queue: deque[Scripted] = field(default_factory=deque)
    rule: Callable[[dict[str, Any]], Scripted | None] | None = None
    """Consulted first for every request: a test's own deterministic behaviour (e.g. a summariser)."""
    requests: list[dict[str, Any]] = field(default_factory=list)
    arrived: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))
    """Released once per request received, so tests can wait for a call to arrive."""

    def enqueue(self, *answers: Scripted | str) -> None:
        self.queue.extend(Scripted(text=a) if isinstance(a, str) else a for a in answers)

    def reset(self) -> None:
        self.queue.clear()
        self.rule = None
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
        ruled = self.rule(payload) if self.rule else None
        answer = ruled or (self.queue.popleft() if self.queue else Scripted())
        if answer.gate is not None:
            await asyncio.to_thread(answer.gate.wait, 30)
        if answer.delay_s:
            await asyncio.sleep(answer.delay_s)
        if answer.body is not None:
            return PlainTextResponse(answer.body, status_code=answer.status, media_type="application/json")
        if answer.status != 200:
            return JSONResponse({"error": {"message": "scripted failure"}}, status_code=answer.status)
        # json.dumps escapes what is not ASCII, so a scripted text may hold what no UTF-8 can (a lone surrogate).
        return Response(json.dumps(completion(payload, answer)), media_type="application/json")


@dataclass(frozen=True)
class Received:
    """A call as the receiver got it, and which of its trusted secrets signed it."""

    path: str
    headers: dict[str, str]
    body: bytes
    verified_with: list[str]


@dataclass
class Webhook:
    """A function's receiving end: verifies every call with the ``standardwebhooks`` library
    against the secrets it trusts (401 if none signed it), records it, and answers by path.

    ``/json`` echoes the arguments as JSON, ``/text`` answers plain text, ``/status/<n>``
    answers that status, ``/slow`` waits for ``gate``, ``/redirect`` points elsewhere,
    ``/huge`` sends 1 MB, ``/surrogate`` JSON holding half a surrogate pair, ``/deep`` JSON
    nested 5,000 levels, ``/binary`` bytes that are not text."""

    calls: list[Received] = field(default_factory=list)
    trusted: list[str] = field(default_factory=list)
    gate: threading.Event = field(default_factory=threading.Event)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/{kind}/{rest:path}", self._receive, methods=["POST", "PUT", "PATCH"])])

    def reset(self) -> None:
        self.calls.clear()
        self.trusted.clear()
        self.gate = threading.Event()

    def trust(self, secret: str) -> None:
        self.trusted.append(secret)

    async def _receive(self, request: Request) -> Response:
        body, headers = await request.body(), dict(request.headers)
        verified_with = [secret for secret in self.trusted if _signed_by(secret, body, headers)]
        self.calls.append(Received(request.url.path, headers, body, verified_with))
        if not verified_with:
            return PlainTextResponse("no valid signature", status_code=401)
        kind, rest = request.path_params["kind"], request.path_params["rest"]
        if kind == "json":
            return JSONResponse({"ok": True, "arguments": json.loads(body)["arguments"]})
        if kind == "text":
            return PlainTextResponse("Friday 10:00 is free.")
        if kind == "status":
            return PlainTextResponse("no", status_code=int(rest))
        if kind == "slow":
            await asyncio.to_thread(self.gate.wait, 30)
            return JSONResponse({"late": True})
        if kind == "redirect":
            return Response(status_code=302, headers={"Location": rest.replace("_", "/")})
        if kind == "huge":
            return PlainTextResponse("x" * 1_000_000)
        if kind == "surrogate":
            return Response(b'{"note": "\\ud800"}', media_type="application/json")
        if kind == "deep":
            return Response(b"[" * 5000 + b"]" * 5000, media_type="application/json")
        return Response(b"\xff\xfe\x00binary", media_type="application/octet-stream")


def _signed_by(secret: str, body: bytes, headers: dict[str, str]) -> bool:
    try:
        StandardWebhook(secret).verify(body, headers, json_parse=False)
    except WebhookVerificationError:
        return False
    return True


def echo_text(payload: dict[str, Any]) -> str:
    last_user = [m["content"] for m in payload["messages"] if m["role"] == "user"][-1]
    return f"echo: {last_user}"


def completion(payload: dict[str, Any], answer: Scripted) -> dict[str, Any]:
    text = answer.text if answer.text is not None else ("" if answer.tool_calls else echo_text(payload))
    text = text[: payload.get("max_tokens", 10**6) * 4]  # a model stops at max_tokens (4 characters a token)
    prompt_tokens, completion_tokens = answer.usage or (
        sum(len(m.get("content") or "") for m in payload["messages"]) // 4,
        len(text) // 4,
    )
    message: dict[str, Any] = {"role": "assistant", "content": text or None}
    if answer.tool_calls:
        message["tool_calls"] = [
            {
                "id": f"call_{len(payload['messages'])}_{n}",
                "type": "function",
                "function": {"name": name, "arguments": args if isinstance(args, str) else json.dumps(args)},
            }
            for n, (name, args) in enumerate(answer.tool_calls)
        ]
    return {
        "id": "chatcmpl-stub",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": payload["model"],
        "choices": [{"index": 0, "message": message, "finish_reason": "tool_calls" if answer.tool_calls else "stop"}],
        "usage": {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        },
    }


DEFAULT_PORTS = {"redis": 6379, "postgresql": 5432}


class TcpProxy:
    """Forwards connections on a free loopback port to the service at ``target_url``; ``url``
    is the same URL through the proxy. ``cut()`` drops every connection and refuses new ones
    (closing them at once), as the service stopping would, until ``restore()``."""

    def __init__(self, target_url: str) -> None:
        target = urlsplit(target_url)
        self._target = (target.hostname or "127.0.0.1", target.port or DEFAULT_PORTS[target.scheme])
        self._listener = socket.create_server(("127.0.0.1", 0))
        user = target.netloc.rpartition("@")[0]
        address = f"127.0.0.1:{self._listener.getsockname()[1]}"
        self.url = urlunsplit(target._replace(netloc=f"{user}@{address}" if user else address))
        self._is_cut = False
        self._open: list[socket.socket] = []
        self._guard = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def cut(self) -> None:
        with self._guard:
            self._is_cut = True
            for sock in self._open:
                _close(sock)
            self._open.clear()

    def restore(self) -> None:
        with self._guard:
            self._is_cut = False

    def close(self) -> None:
        self.cut()
        _close(self._listener)  # shutting it down wakes the thread waiting in accept()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return  # closed
            with self._guard:
                try:
                    if self._is_cut:
                        raise ConnectionRefusedError
                    upstream = socket.create_connection(self._target)
                except OSError:
                    _close(client)
                    continue
                self._open += [client, upstream]
            threading.Thread(target=self._pipe, args=(client, upstream), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client), daemon=True).start()

    @staticmethod
    def _pipe(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        _close(sink)


def _close(sock: socket.socket) -> None:
    with contextlib.suppress(OSError):  # already closed
        sock.shutdown(socket.SHUT_RDWR)
    sock.close()


@dataclass
class EventReceiver:
    """An integrator's event endpoint: checks every delivery with the ``standardwebhooks``
    library (never with replyd's code), keeps the ones that verify, counts the ones that do
    not, and answers the scripted statuses in turn, then 200: after up to ``delay_s`` (a random
    wait, so that a sender's deliveries end at different times). The next ``hold`` deliveries
    get no answer until ``release()`` (then 503: their sender has gone); the next ``trickle``
    get 200 at once and then their body, a byte every 0.3 s for 3 s. It notes each
    ``webhook-id`` that arrived again while a request with it was still open."""

    secret: str = ""
    statuses: deque[int] = field(default_factory=deque)
    received: list[tuple[dict[str, str], dict[str, Any]]] = field(default_factory=list)
    """Verified deliveries, with their headers, in the order they were answered (held ones: as
    they arrived); failed and held ones included, ``answered`` saying which."""
    unverified: int = 0
    delay_s: float = 0.0
    hold: int = 0
    released: threading.Event = field(default_factory=threading.Event)
    trickle: int = 0
    open_requests: Counter[str] = field(default_factory=Counter)
    """Per ``webhook-id``, the requests with it being answered now (trickled ones: until their body starts)."""
    overlaps: list[str] = field(default_factory=list)
    retry_after: str | None = None
    """Sent as ``Retry-After`` with every answer that is not 2xx."""
    arrivals: list[float] = field(default_factory=list)
    """When each verified delivery arrived (``time.monotonic()``)."""

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/events", self._receive, methods=["POST"])])

    def payloads(self, type: str | None = None) -> list[dict[str, Any]]:
        """What was delivered (answered 2xx), in order."""
        delivered = [payload for headers, payload in self.received if headers["answered"].startswith("2")]
        return [payload for payload in delivered if type is None or payload["type"] == type]

    def held(self) -> list[str]:
        """The ``webhook-id`` of each delivery held open."""
        return [headers["webhook-id"] for headers, _ in self.received if headers["answered"] == "held"]

    def release(self) -> None:
        self.released.set()

    async def _receive(self, request: Request) -> Response:
        body = await request.body()
        headers = dict(request.headers)
        try:
            payload = StandardWebhook(self.secret).verify(body, headers)
        except WebhookVerificationError:
            self.unverified += 1
            return Response(status_code=400)
        self.arrivals.append(time.monotonic())
        webhook_id = headers["webhook-id"]
        if self.open_requests[webhook_id]:
            self.overlaps.append(webhook_id)
        self.open_requests[webhook_id] += 1
        try:
            return await self._answer(headers, payload)
        finally:
            self.open_requests[webhook_id] -= 1

    async def _answer(self, headers: dict[str, str], payload: dict[str, Any]) -> Response:
        if self.hold:
            self.hold -= 1
            self.received.append((headers | {"answered": "held"}, payload))
            while not self.released.is_set():
                await asyncio.sleep(0.05)
            return Response(status_code=503)
        if self.trickle:
            self.trickle -= 1
            self.received.append((headers | {"answered": "trickled"}, payload))
            return StreamingResponse(_slowly(b"0123456789", 0.3))
        status = self.statuses.popleft() if self.statuses else 200
        await asyncio.sleep(random.uniform(0, self.delay_s))
        self.received.append((headers | {"answered": str(status)}, payload))
        asked = {"Retry-After": self.retry_after} if self.retry_after and not 200 <= status < 300 else {}
        return Response(status_code=status, headers=asked)


async def _slowly(body: bytes, pause_s: float) -> AsyncIterator[bytes]:
    for byte in body:
        await asyncio.sleep(pause_s)
        yield bytes([byte])


@contextmanager
def receiving() -> Iterator[tuple[EventReceiver, str]]:
    """An ``EventReceiver`` served on a loopback port, and its URL."""
    receiver = EventReceiver()
    with serve_in_thread(receiver.app()) as url:
        try:
            yield receiver, f"{url}/events"
        finally:
            receiver.release()  # a delivery still held open ends before its server stops


@dataclass
class TelegramApi:
    """Telegram's Bot API as far as replyd uses it: ``POST /bot<token>/sendMessage`` with a JSON
    body of ``chat_id`` and ``text`` (https://core.telegram.org/bots/api#sendmessage). A call
    of another shape is answered 400 and counted in ``malformed``; the next ``statuses`` are
    answered with Telegram's error bodies, then 200 with the sent message."""

    base_url: str = ""
    sent: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    """(bot token, body) of each message answered 200, in order."""
    attempts: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    attempted_at: list[float] = field(default_factory=list)
    """When each of ``attempts`` came (``time.monotonic()``)."""
    malformed: int = 0
    statuses: deque[int] = field(default_factory=deque)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/bot{token}/sendMessage", self._send_message, methods=["POST"])])

    def to(self, bot_token: str) -> list[dict[str, Any]]:
        """The messages sent by one bot."""
        return [body for token, body in self.sent if token == bot_token]

    async def _send_message(self, request: Request) -> Response:
        token = request.path_params["token"]
        try:
            body = await request.json()
        except ValueError:
            body = None
        well_formed = (
            request.headers.get("content-type", "").startswith("application/json")
            and isinstance(body, dict)
            and isinstance(body.get("chat_id"), (int, str))
            and isinstance(body.get("text"), str)
            and 0 < len(body["text"]) <= 4096
        )
        if not well_formed:
            self.malformed += 1
            return JSONResponse({"ok": False, "error_code": 400, "description": "Bad Request"}, status_code=400)
        self.attempts.append((token, body))
        self.attempted_at.append(time.monotonic())
        status = self.statuses.popleft() if self.statuses else 200
        if status != 200:
            error = {"ok": False, "error_code": status, "description": f"Error {status}"}
            if status == 429:
                error |= {"description": "Too Many Requests: retry after 1", "parameters": {"retry_after": 1}}
            return JSONResponse(error, status_code=status)
        self.sent.append((token, body))
        message = {"message_id": len(self.sent), "chat": {"id": int(body["chat_id"])}, "text": body["text"]}
        return JSONResponse({"ok": True, "result": message})


@dataclass
class GraphApi:
    """The WhatsApp Cloud API as far as replyd uses it: ``POST /v21.0/{phone_number_id}/messages``
    with ``Authorization: Bearer <token>`` and a text message's JSON body, exactly
    (https://developers.facebook.com/docs/whatsapp/cloud-api/reference/messages). A call of
    another shape is answered 400 and counted in ``malformed``; the next ``errors`` (HTTP
    status, Graph error code) are answered with the Graph API's error bodies, then 200 with the
    message's new ``wamid``."""

    base_url: str = ""
    """With the version, as the setting takes it."""
    sent: list[tuple[str, str, dict[str, Any], str]] = field(default_factory=list)
    """(phone number id, access token, body, wamid) of each message answered 200, in order."""
    attempts: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    malformed: int = 0
    errors: deque[tuple[int, int]] = field(default_factory=deque)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/v21.0/{phone_number_id}/messages", self._messages, methods=["POST"])])

    def to(self, phone_number_id: str) -> list[dict[str, Any]]:
        """The messages sent from one business number."""
        return [body for number, _, body, _ in self.sent if number == phone_number_id]

    async def _messages(self, request: Request) -> Response:
        number = request.path_params["phone_number_id"]
        authorization = request.headers.get("authorization", "")
        try:
            body = await request.json()
        except ValueError:
            body = None
        text = body.get("text") if isinstance(body, dict) else None
        well_formed = (
            request.headers.get("content-type", "").startswith("application/json")
            and authorization.startswith("Bearer ")
            and len(authorization) > len("Bearer ")
            and isinstance(body, dict)
            and set(body) == {"messaging_product", "recipient_type", "to", "type", "text"}
            and (body["messaging_product"], body["recipient_type"], body["type"]) == ("whatsapp", "individual", "text")
            and isinstance(body["to"], str)
            and body["to"].isdigit()
            and isinstance(text, dict)
            and set(text) == {"preview_url", "body"}
            and text["preview_url"] is False
            and isinstance(text["body"], str)
            and 0 < len(text["body"]) <= 4096
        )
        if not well_formed:
            self.malformed += 1
            error = {"message": "(#100) Invalid parameter", "type": "OAuthException", "code": 100}
            return JSONResponse({"error": error}, status_code=400)
        self.attempts.append((number, body))
        if self.errors:
            status, code = self.errors.popleft()
            return JSONResponse({"error": graph_error(code)}, status_code=status)
        wamid = f"wamid.{number}.{len(self.sent) + 1}"
        self.sent.append((number, authorization.removeprefix("Bearer "), body, wamid))
        answer = {
            "messaging_product": "whatsapp",
            "contacts": [{"input": body["to"], "wa_id": body["to"]}],
            "messages": [{"id": wamid, "message_status": "accepted"}],
        }
        return JSONResponse(answer)


def graph_error(code: int) -> dict[str, Any]:
    """The Graph API's ``error`` object for a code, as its documentation shows them."""
    messages = {
        131047: (
            "Re-engagement message",
            "Message failed to send because more than 24 hours have passed since the customer last replied to "
            "this number.",
        ),
        190: ("Invalid OAuth access token.", "Error validating access token: Session has expired."),
        130429: ("Rate limit hit", "Cloud API message throughput has been reached."),
    }
    message, details = messages.get(code, ("Service temporarily unavailable", "Please retry later."))
    return {
        "message": message,
        "type": "OAuthException",
        "code": code,
        "error_data": {"messaging_product": "whatsapp", "details": details},
        "fbtrace_id": "AazA9dVfq3_Ku2Cxk6Dr9Y0",
    }


@dataclass
class TwilioApi:
    """Twilio's REST API as far as replyd uses it: ``POST /2010-04-01/Accounts/{AccountSid}/Messages.json``,
    form-encoded, with the account SID and auth token as Basic auth, ``To``, ``From``, ``Body``
    and perhaps ``StatusCallback`` (https://www.twilio.com/docs/messaging/api/message-resource).
    A call of another shape is answered 400 and counted in ``malformed``; the next ``errors``
    (HTTP status, Twilio error code) are answered with Twilio's error bodies, then 201 with the
    new message. Like Twilio, it then posts each of ``callbacks`` (statuses, in that order, a
    ``(status, error code)`` pair for a failure) to the ``StatusCallback`` URL, signed with the
    auth token as the ``twilio`` library signs (``X-Twilio-Signature``)."""

    base_url: str = ""
    sent: list[dict[str, str]] = field(default_factory=list)
    """The form of each message answered 201, with its ``sid``, in order."""
    attempts: int = 0
    malformed: int = 0
    errors: deque[tuple[int, int]] = field(default_factory=deque)
    stalls: deque[float] = field(default_factory=deque)
    """The next sends are answered only after this many seconds each, with 503, and not sent."""
    callbacks: list[str | tuple[str, int]] = field(default_factory=lambda: ["sent", "delivered"])
    callback_answers: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    """Per message SID, the status replyd answered each of its status callbacks with."""
    unreachable: list[str] = field(default_factory=list)
    """Each status callback that found nobody at its URL, and why."""
    _posting: set[asyncio.Task[None]] = field(default_factory=set)

    def app(self) -> Starlette:
        return Starlette(routes=[Route("/2010-04-01/Accounts/{sid}/Messages.json", self._messages, methods=["POST"])])

    def to(self, from_number: str) -> list[dict[str, str]]:
        """The messages sent from one Twilio number."""
        return [form for form in self.sent if form["From"] == from_number]

    async def _messages(self, request: Request) -> Response:
        account = request.path_params["sid"]
        form = {key: str(value) for key, value in (await request.form()).items()}
        auth_token = _basic_password(request.headers.get("authorization", ""), account)
        well_formed = (
            request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded")
            and auth_token is not None
            and set(form) - {"StatusCallback"} == {"To", "From", "Body"}
            and all(form[key].startswith("+") and form[key][1:].isdigit() for key in ("To", "From"))
            and 0 < len(form["Body"]) <= 1600
            and form.get("StatusCallback", "http://").startswith(("http://", "https://"))
        )
        if not well_formed:
            self.malformed += 1
            return JSONResponse(twilio_error(21602, 400), status_code=400)
        self.attempts += 1
        if self.stalls:
            await asyncio.sleep(self.stalls.popleft())
            return JSONResponse(twilio_error(20500, 503), status_code=503)
        if self.errors:
            status, code = self.errors.popleft()
            return JSONResponse(twilio_error(code, status), status_code=status)
        sid = f"SM{len(self.sent) + 1:032x}"
        self.sent.append(form | {"sid": sid})
        if "StatusCallback" in form and auth_token is not None:
            task = asyncio.create_task(self._report(form["StatusCallback"], auth_token, account, sid, form))
            self._posting.add(task)
            task.add_done_callback(self._posting.discard)
        message = {"sid": sid, "account_sid": account, "to": form["To"], "from": form["From"], "body": form["Body"]}
        return JSONResponse(message | {"status": "queued", "num_segments": "1"}, status_code=201)

    async def _report(self, url: str, auth_token: str, account: str, sid: str, sent: dict[str, str]) -> None:
        if urlsplit(url).hostname != "127.0.0.1":  # a test's made-up public URL: nothing leaves the machine
            self.unreachable.append(url)
            return
        await asyncio.sleep(0.5)  # as Twilio's come: after the send's answer, once the carrier has it
        async with httpx.AsyncClient() as client:
            for callback in self.callbacks:
                status, code = callback if isinstance(callback, tuple) else (callback, None)
                form = {"MessageSid": sid, "SmsSid": sid, "AccountSid": account, "MessageStatus": status}
                form |= {"SmsStatus": status, "From": sent["From"], "To": sent["To"], "ApiVersion": "2010-04-01"}
                if code is not None:
                    form["ErrorCode"] = str(code)
                signature = RequestValidator(auth_token).compute_signature(url, form)
                try:
                    answer = await client.post(url, data=form, headers={"X-Twilio-Signature": signature})
                except httpx.HTTPError as exc:
                    self.unreachable.append(f"{url}: {exc!r}")
                    continue
                self.callback_answers[sid].append(answer.status_code)


def _basic_password(authorization: str, user: str) -> str | None:
    """The password of Basic auth for ``user``, or None."""
    try:
        given = base64.b64decode(authorization.removeprefix("Basic "), validate=True).decode()
    except ValueError:
        return None
    name, _, password = given.partition(":")
    return password if authorization.startswith("Basic ") and name == user and password else None


def twilio_error(code: int, status: int) -> dict[str, Any]:
    """Twilio's error body for a code, as its documentation shows them."""
    messages = {
        21610: "Attempt to send to unsubscribed recipient",
        20003: "Authenticate",
        20429: "Too Many Requests",
        21602: "Message body is required.",
    }
    return {
        "code": code,
        "message": messages.get(code, "Service unavailable"),
        "more_info": f"https://www.twilio.com/docs/errors/{code}",
        "status": status,
    }
