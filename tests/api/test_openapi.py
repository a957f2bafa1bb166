"""The served OpenAPI document: complete, and true. Schemathesis generates requests for every
operation against a live server: no answer may be a 5xx, and every answer must match the
documented schema and status codes."""

import asyncio
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from replyd.functions.signing import new_webhook_secret
from replyd.money import parse_amount
from replyd.services.assistant_config import AssistantConfig
from replyd.store import accounts
from replyd.store.assistants import create_assistant
from replyd.store.session import create_engine, session_factory
from tests.conftest import STUB_MODEL

ROUTES = {
    ("POST", "/api/ai/generate-reply"),
    ("GET", "/api/conversations/{conversation_id}"),
    ("DELETE", "/api/conversations/{conversation_id}"),
    ("DELETE", "/api/customers/{customer_identifier}"),
    ("GET", "/api/user/conversations"),
    ("POST", "/api/automate/conversations/{conversation_id}/disable-ai"),
    ("POST", "/api/automate/conversations/{conversation_id}/enable-ai"),
    ("POST", "/api/conversations"),
    ("GET", "/api/conversations/{conversation_id}/messages"),
    ("POST", "/api/conversations/{conversation_id}/messages"),
    ("POST", "/api/conversations/{conversation_id}/agent-messages"),
    ("POST", "/api/conversations/{conversation_id}/agent-typing"),
    ("POST", "/api/assistants"),
    ("GET", "/api/assistants"),
    ("GET", "/api/assistants/{assistant_id}"),
    ("PATCH", "/api/assistants/{assistant_id}"),
    ("DELETE", "/api/assistants/{assistant_id}"),
    ("GET", "/api/account"),
    ("PATCH", "/api/account"),
    ("GET", "/api/account/usage"),
    ("GET", "/api/tokens"),
    ("POST", "/api/tokens"),
    ("DELETE", "/api/tokens/{token_id}"),
    ("POST", "/api/webhooks"),
    ("GET", "/api/webhooks"),
    ("DELETE", "/api/webhooks/{endpoint_id}"),
    ("GET", "/api/webhooks/{endpoint_id}/deliveries"),
    ("POST", "/api/webhooks/{endpoint_id}/enable"),
    ("POST", "/api/webhooks/deliveries/{delivery_id}/replay"),
    ("POST", "/api/channels"),
    ("GET", "/api/channels"),
    ("DELETE", "/api/channels/{channel_id}"),
}


async def _seed(database_url: str) -> tuple[str, int]:
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session, session.begin():
            account = await accounts.create_account(session, "schemathesis", parse_amount("1000"), new_webhook_secret())
            token = await accounts.create_token(session, account.id)
            config = AssistantConfig(name="fuzzed", model=STUB_MODEL)
            assistant = await create_assistant(session, account.id, config.to_columns())
            return token.secret, assistant.id
    finally:
        await engine.dispose()


@pytest.fixture(scope="module")
def live(start_server: Callable[..., AbstractContextManager[str]], database_url: str) -> Iterator[tuple[str, str]]:
    with start_server(rate_limit="1000000/minute") as url:
        token, _ = asyncio.run(_seed(database_url))
        yield url, token


@pytest.fixture
def api_schema(live: tuple[str, str]) -> Any:
    return schemathesis.openapi.from_url(f"{live[0]}/openapi.json")


def test_every_endpoint_is_documented_with_its_errors(live: tuple[str, str]) -> None:
    document = httpx.get(f"{live[0]}/openapi.json").json()
    documented = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    assert documented == ROUTES
    reply = document["paths"]["/api/ai/generate-reply"]["post"]
    assert set(reply["responses"]) == {
        "200",
        "400",
        "401",
        "402",
        "404",
        "409",
        "413",
        "422",
        "429",
        "500",
        "502",
        "503",
        "504",
    }
    assert {"VALIDATION_ERROR", "NESTING_TOO_DEEP", "IDEMPOTENCY_KEY_REUSED"} <= set(
        reply["responses"]["422"]["description"].removeprefix("error_code: ").split(" or ")
    )
    for path in ["/api/assistants", "/api/conversations", "/api/conversations/{conversation_id}/agent-messages"]:
        assert "NESTING_TOO_DEEP" in document["paths"][path]["post"]["responses"]["422"]["description"]
    assert "SERVICE_UNAVAILABLE" in reply["responses"]["503"]["description"]
    body = reply["requestBody"]["content"]["application/json"]["schema"]
    assert body["required"] == ["assistant_id", "customer_identifier", "message"]
    assert body["properties"]["customer_identifier"]["maxLength"] == 255
    assert "example" in body
    for path, item in document["paths"].items():
        for method, operation in item.items():
            ok = operation["responses"].get("200") or operation["responses"]["201"]
            reference = ok["content"]["application/json"]["schema"]["$ref"].rsplit("/", 1)[1]
            assert "example" in document["components"]["schemas"][reference], f"{method} {path} has no example"
    success = document["components"]["schemas"]["ReplyOut"]["properties"]
    assert set(success) == {
        "success",
        "conversation_id",
        "customer_identifier",
        "reply",
        "function_calls",
        "ai_disabled",
    }


@pytest.mark.parametrize(("method", "path"), sorted(ROUTES))
def test_the_api_keeps_its_documented_contract(method: str, path: str, live: tuple[str, str], api_schema: Any) -> None:
    url, token = live
    operation = api_schema[path][method]

    @given(case=operation.as_strategy())
    @settings(max_examples=25, suppress_health_check=list(HealthCheck), database=None)
    def keeps_contract(case: Any) -> None:
        case.call_and_validate(
            base_url=url,
            headers={"Authorization": f"Bearer {token}"},
            checks=[not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance],
        )

    keeps_contract()
