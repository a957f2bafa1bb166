"""The functions one reply may call: offered to the model as tools, run when it asks."""

import json
from dataclasses import dataclass
from typing import Any

from replyd.functions.arguments import InvalidArguments, parse_arguments, read_arguments
from replyd.functions.handoff import HANDOFF_NAME, HANDOFF_RESULT, HANDOFF_TOOL
from replyd.functions.spec import FunctionSpec
from replyd.functions.webhook import CallContext, WebhookCaller
from replyd.providers.base import ToolCall, ToolSpec


@dataclass(frozen=True)
class CallOutcome:
    name: str
    arguments: dict[str, Any]
    result: Any
    kind: str = "ok"
    """ok, error (the webhook failed), invalid_arguments, unknown_function or handoff: for metrics."""

    @property
    def is_handoff(self) -> bool:
        return self.kind == "handoff"

    @property
    def reason(self) -> str | None:
        """A handoff's reason, as the model gave it."""
        reason = self.arguments.get("reason")
        return reason[:2000] if isinstance(reason, str) and reason.strip() else None

    def record(self) -> dict[str, Any]:
        """The call as the API lists it in ``function_calls``."""
        return {"name": self.name, "arguments": self.arguments, "result": self.result}

    def failure(self) -> dict[str, Any]:
        """A failed webhook call as ``function.failed`` tells of it."""
        return {"name": self.name, "arguments": self.arguments, "error": self.result["error"]}


class Toolbox:
    def __init__(
        self, functions: list[FunctionSpec], handoff_enabled: bool, caller: WebhookCaller, context: CallContext
    ) -> None:
        self._functions = {f.name: f for f in functions}
        self._handoff_enabled = handoff_enabled
        self._caller = caller
        self._context = context

    @property
    def tools(self) -> tuple[ToolSpec, ...]:
        offered = [ToolSpec(f.name, f.description, _canonical(f.parameters)) for f in self._functions.values()]
        return (*offered, HANDOFF_TOOL) if self._handoff_enabled else tuple(offered)

    async def run(self, call: ToolCall) -> CallOutcome:
        if call.name == HANDOFF_NAME and self._handoff_enabled:
            return CallOutcome(call.name, _loose_arguments(call.arguments), HANDOFF_RESULT, "handoff")
        function = self._functions.get(call.name)
        if function is None:
            error = {"error": f"no function {call.name!r}"}
            return CallOutcome(call.name, _loose_arguments(call.arguments), error, "unknown_function")
        try:
            arguments = parse_arguments(call.arguments, function.parameters)
        except InvalidArguments as exc:
            return CallOutcome(call.name, _loose_arguments(call.arguments), {"error": str(exc)}, "invalid_arguments")
        result = await self._caller.call(function, arguments, self._context)
        failed = isinstance(result, dict) and set(result) == {"error"}
        return CallOutcome(call.name, arguments, result, "error" if failed else "ok")


def _canonical(schema: dict[str, Any]) -> dict[str, Any]:
    """Keys sorted at every level: the tools part of the prompt is byte-stable, so caches hit."""
    canonical: dict[str, Any] = json.loads(json.dumps(schema, sort_keys=True))
    return canonical


def _loose_arguments(text: str) -> dict[str, Any]:
    """The arguments as far as they are a JSON object; ``{}`` where they are not."""
    try:
        arguments = read_arguments(text)
    except InvalidArguments:
        return {}
    return arguments if isinstance(arguments, dict) else {}
