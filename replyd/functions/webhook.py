"""Calling a function's webhook: a signed request to the address the guard approved, with a
timeout, no redirects, and a capped answer. Whatever goes wrong becomes ``{"error": ...}``
for the model; the customer still gets a reply."""

import json
from dataclasses import dataclass
from typing import Any

from replyd import json_rules
from replyd.clock import utcnow
from replyd.errors import ReplydError
from replyd.functions.signing import new_message_id, signature_headers
from replyd.functions.spec import FunctionSpec
from replyd.functions.ssrf import BlockedAddress
from replyd.outbound import Answer, Outbound, SendFailed

MAX_ANSWER_BYTES = 64 * 1024
USER_AGENT = "replyd-webhook/1"


@dataclass(frozen=True)
class CallContext:
    """What every call of one reply tells the receiver besides the arguments."""

    assistant_id: int
    conversation_id: str
    customer_identifier: str | None
    variables: dict[str, Any]
    signing_secrets: list[str]
    """The account's secrets valid now: the current one, and the previous one a while after a rotation."""


class WebhookCaller:
    def __init__(self, outbound: Outbound) -> None:
        self._outbound = outbound

    async def call(self, function: FunctionSpec, arguments: dict[str, Any], context: CallContext) -> Any:
        body = json.dumps(
            {
                "function": function.name,
                "arguments": arguments,
                "assistant_id": context.assistant_id,
                "conversation_id": context.conversation_id,
                "customer_identifier": context.customer_identifier,
                "variables": context.variables,
            },
            separators=(",", ":"),
        ).encode()
        try:
            return await self._send(function, body, context.signing_secrets)
        except BlockedAddress as exc:
            return {"error": f"refused: {exc}"}
        except TimeoutError:
            return {"error": f"the function did not answer within {function.timeout_s:g} s"}
        except SendFailed as exc:
            return {"error": f"could not call the function: {exc}"}

    async def _send(self, function: FunctionSpec, body: bytes, signing_secrets: list[str]) -> Any:
        headers = {
            **function.headers,
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            **signature_headers(body, new_message_id(), utcnow(), signing_secrets),
        }
        answer = await self._outbound.send(
            function.method, str(function.url), body, headers, function.timeout_s, read_limit=MAX_ANSWER_BYTES + 1
        )
        if not answer.is_success:
            return {"error": f"the function answered HTTP {answer.status}"}
        return _read_answer(answer)


def _read_answer(answer: Answer) -> Any:
    if len(answer.body) > MAX_ANSWER_BYTES:
        return {"error": f"the function's answer is larger than {MAX_ANSWER_BYTES} bytes"}
    try:
        text = answer.body.decode()
    except UnicodeDecodeError:
        return {"error": "the function's answer is neither JSON nor text"}
    try:
        answer = _json_or_text(text)
        json_rules.check(answer)  # it is stored with the reply, and read back with the history
    except ReplydError:
        return {"error": "the function's answer holds NUL, half a surrogate pair or JSON nested over 64 levels"}
    return answer


def _json_or_text(text: str) -> Any:
    try:
        return json_rules.loads(text)
    except ValueError:
        return text
