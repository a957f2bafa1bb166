"""Every error of generate-reply: its status, envelope and code, and that it changed nothing."""

import threading
import uuid
from typing import Any

import httpx
import pytest

from replyd.store import accounts
from tests.conftest import Snapshot, Tenant
from tests.servers import Scripted, StubModel

ROUTE = "/api/ai/generate-reply"
VALID = {"assistant_id": 1, "customer_identifier": "c", "message": "hi"}


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body = response.json()
    assert body["success"] is False
    assert body["error_code"] == code
    assert isinstance(body["error"], str) and body["error"]
    assert set(body) <= {"success", "error", "error_code", "details", "status"}
    return body


def detail_fields(body: dict[str, Any]) -> list[str]:
    return [d["field"] for d in body["details"]]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"assistant_id": None}, "assistant_id"),
        ({"customer_identifier": None}, "customer_identifier"),
        ({"message": None}, "message"),
        ({"assistant_id": "1"}, "assistant_id"),
        ({"assistant_id": 1.5}, "assistant_id"),
        ({"assistant_id": True}, "assistant_id"),
        ({"assistant_id": 0}, "assistant_id"),
        ({"customer_identifier": 49155551234}, "customer_identifier"),
        ({"customer_identifier": ""}, "customer_identifier"),
        ({"customer_identifier": "   "}, "customer_identifier"),
        ({"customer_identifier": "x" * 256}, "customer_identifier"),
        ({"message": ""}, "message"),
        ({"message": " \n\t "}, "message"),
        ({"message": ["hi"]}, "message"),
        ({"variables": ["a"]}, "variables"),
        ({"variables": "a=1"}, "variables"),
        ({"variables": {"nested": {"a": 1}}}, "variables"),
        ({"variables": {"list": [1, 2]}}, "variables"),
    ],
)
async def test_each_broken_field_rule_is_a_validation_error(
    tenant: Tenant, snapshot: Any, change: dict[str, Any], field: str
) -> None:
    body = {**VALID, "assistant_id": tenant.assistant_id}
    body.update(change)
    body = {key: value for key, value in body.items() if value is not None}
    before: Snapshot = await snapshot(tenant.account_id)
    error = assert_error(await tenant.client.post(ROUTE, json=body), 422, "VALIDATION_ERROR")
    assert detail_fields(error) == [field]
    assert await snapshot(tenant.account_id) == before


async def test_every_broken_field_is_listed(tenant: Tenant) -> None:
    error = assert_error(await tenant.client.post(ROUTE, json={"variables": {"a": {}}}), 422, "VALIDATION_ERROR")
    assert set(detail_fields(error)) == {"assistant_id", "customer_identifier", "message", "variables"}
    assert all(d["message"] for d in error["details"])


async def test_customer_identifier_of_255_characters_is_accepted(tenant: Tenant) -> None:
    response = await tenant.reply(customer="x" * 255)
    assert response.status_code == 200
    assert response.json()["customer_identifier"] == "x" * 255


async def test_unknown_fields_are_ignored(tenant: Tenant) -> None:
    response = await tenant.client.post(
        ROUTE, json={"assistant_id": tenant.assistant_id, "customer_identifier": "c", "message": "hi", "channel": "sms"}
    )
    assert response.status_code == 200


async def test_scalar_variables_of_every_kind_are_accepted(tenant: Tenant) -> None:
    response = await tenant.reply(variables={"s": "x", "i": 3, "f": 2.5, "b": False, "n": None})
    assert response.status_code == 200


@pytest.mark.parametrize("raw", [b"{not json", b"", b"[1, 2]", b'"text"', b"\xff\xfe"])
async def test_a_body_that_is_not_a_json_object_is_invalid_json(tenant: Tenant, raw: bytes) -> None:
    response = await tenant.client.post(ROUTE, content=raw, headers={"Content-Type": "application/json"})
    assert_error(response, 400, "INVALID_JSON")


async def test_message_longer_than_the_configured_limit_is_refused(
    start_server: Any, make_tenant: Any, snapshot: Any
) -> None:
    with start_server(max_message_chars=40) as url:
        tenant: Tenant = await make_tenant(base_url=url)
        assert (await tenant.reply("x" * 40)).status_code == 200
        before = await snapshot(tenant.account_id)
        error = assert_error(await tenant.reply("x" * 41), 422, "VALIDATION_ERROR")
        assert detail_fields(error) == ["message"]
        assert "40" in error["details"][0]["message"]
        assert await snapshot(tenant.account_id) == before


async def test_default_message_limit_is_32000_characters(tenant: Tenant) -> None:
    assert (await tenant.reply("x" * 32_000)).status_code == 200
    assert_error(await tenant.reply("x" * 32_001), 422, "VALIDATION_ERROR")


async def test_body_over_the_configured_limit_is_payload_too_large(start_server: Any, make_tenant: Any) -> None:
    with start_server(max_body_bytes=2048) as url:
        tenant: Tenant = await make_tenant(base_url=url)
        assert_error(await tenant.reply("x" * 3000), 413, "PAYLOAD_TOO_LARGE")

        async def chunks() -> Any:  # no Content-Length: the limit still holds while streaming
            for _ in range(5):
                yield b" " * 1000

        response = await tenant.client.post(ROUTE, content=chunks(), headers={"Content-Type": "application/json"})
        assert_error(response, 413, "PAYLOAD_TOO_LARGE")


@pytest.mark.parametrize("header", [None, "", "Bearer", "Basic abc", "Bearer rpd_unknown", "rpd_x"])
async def test_missing_or_unknown_token_is_unauthenticated(server: str, header: str | None) -> None:
    headers = {"Authorization": header} if header is not None else {}
    async with httpx.AsyncClient(base_url=server) as client:
        assert_error(await client.post(ROUTE, json=VALID, headers=headers), 401, "UNAUTHENTICATED")


async def test_revoked_token_is_unauthenticated(tenant: Tenant, db: Any) -> None:
    assert (await tenant.reply()).status_code == 200
    async with db() as session, session.begin():
        assert await accounts.revoke_token(session, tenant.token_id)
    assert_error(await tenant.reply(), 401, "UNAUTHENTICATED")


async def test_authentication_comes_before_body_checks(server: str) -> None:
    async with httpx.AsyncClient(base_url=server) as client:
        assert_error(await client.post(ROUTE, content=b"{oops"), 401, "UNAUTHENTICATED")


async def test_another_accounts_assistant_is_not_found_like_a_missing_one(make_tenant: Any, snapshot: Any) -> None:
    mine: Tenant = await make_tenant()
    theirs: Tenant = await make_tenant()
    before = await snapshot(theirs.account_id)
    other = assert_error(await mine.reply(assistant_id=theirs.assistant_id), 404, "ASSISTANT_NOT_FOUND")
    missing = assert_error(await mine.reply(assistant_id=10**9), 404, "ASSISTANT_NOT_FOUND")
    assert "status" not in missing  # Famulor's generate-reply speaks "success" only
    assert other["error"].replace(str(theirs.assistant_id), "N") == missing["error"].replace(str(10**9), "N")
    assert await snapshot(theirs.account_id) == before


async def test_sixth_call_in_a_minute_is_rate_limited(make_tenant: Any, snapshot: Any) -> None:
    tenant: Tenant = await make_tenant(rate_limit="5/minute")
    responses = [await tenant.reply(f"m{n}") for n in range(5)]
    assert [r.status_code for r in responses] == [200] * 5
    assert [r.headers["X-RateLimit-Remaining"] for r in responses] == ["4", "3", "2", "1", "0"]
    before = await snapshot(tenant.account_id)
    limited = await tenant.reply("m6")
    assert_error(limited, 429, "RATE_LIMITED")
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    assert limited.headers["X-RateLimit-Limit"] == "5"
    assert limited.headers["X-RateLimit-Remaining"] == "0"
    assert int(limited.headers["X-RateLimit-Reset"]) >= int(responses[0].headers["X-RateLimit-Reset"])
    assert await snapshot(tenant.account_id) == before


async def test_rate_limit_headers_are_on_error_answers_too(tenant: Tenant) -> None:
    response = await tenant.client.post(ROUTE, json={"assistant_id": tenant.assistant_id})
    assert response.status_code == 422
    assert {"x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset"} <= set(response.headers)


async def test_the_global_rate_limit_applies_to_tokens_without_their_own(start_server: Any, make_tenant: Any) -> None:
    with start_server(rate_limit="2/minute") as url:
        plain: Tenant = await make_tenant(base_url=url)
        generous: Tenant = await make_tenant(base_url=url, rate_limit="3/minute")
        assert [(await plain.reply()).status_code for _ in range(3)] == [200, 200, 429]
        assert [(await generous.reply()).status_code for _ in range(4)] == [200, 200, 200, 429]


async def test_rate_limits_are_per_token(make_tenant: Any) -> None:
    first: Tenant = await make_tenant(rate_limit="1/minute")
    second: Tenant = await make_tenant(rate_limit="1/minute")
    assert (await first.reply()).status_code == 200
    assert (await second.reply()).status_code == 200
    assert (await first.reply()).status_code == 429


@pytest.mark.parametrize("balance", ["0", "0.009999"])
async def test_balance_too_low_is_refused_with_nothing_stored(
    make_tenant: Any, snapshot: Any, stub_model: StubModel, balance: str
) -> None:
    tenant: Tenant = await make_tenant(balance=balance, reply_fee="0.01")
    before = await snapshot(tenant.account_id)
    assert_error(await tenant.reply(variables={"a": 1}), 402, "INSUFFICIENT_BALANCE")
    assert await snapshot(tenant.account_id) == before
    assert before.conversations == 0
    assert stub_model.requests == []


@pytest.mark.parametrize(
    ("answer", "status", "code"),
    [
        (Scripted(status=500), 502, "LLM_ERROR"),
        (Scripted(status=429), 502, "LLM_ERROR"),
        (Scripted(body="<html>not json</html>"), 502, "LLM_ERROR"),
        (Scripted(body='{"choices": []}'), 502, "LLM_ERROR"),
        (Scripted(text="half a pair: \ud800"), 502, "LLM_ERROR"),
        (Scripted(text="\udc00"), 502, "LLM_ERROR"),
        (Scripted(text="a NUL: \x00"), 502, "LLM_ERROR"),
        (Scripted(tool_calls=[("no_such_function\ud800", {})]), 502, "LLM_ERROR"),
        (Scripted(tool_calls=[("no_such_function", '{"day": "\ud800"}')]), 502, "LLM_ERROR"),
    ],
)
async def test_model_failures_keep_the_message_unanswered_and_charge_nothing(
    tenant: Tenant, stub_model: StubModel, snapshot: Any, answer: Scripted, status: int, code: str
) -> None:
    await tenant.reply("first")
    before = await snapshot(tenant.account_id)
    stub_model.enqueue(answer)
    assert_error(await tenant.reply("second"), status, code)
    assert_kept_uncharged(before, await snapshot(tenant.account_id))
    await tenant.reply("third")
    turns = [m["content"] for m in stub_model.requests[-1]["messages"] if m["role"] == "user"]
    assert turns == ["first", "second", "third"]  # the customer did write it: the model sees it


def assert_kept_uncharged(before: Snapshot, after: Snapshot) -> None:
    """A failed model call keeps the customer's message (one more, unanswered) and charges nothing."""
    assert after.messages == before.messages + 1
    assert (after.balance_micros, after.ledger_entries) == (before.balance_micros, before.ledger_entries)


@pytest.mark.parametrize("status", [400, 401, 404, 413, 422])
async def test_a_request_the_model_provider_refuses_is_rejected_at_once_not_retried(
    start_server: Any, make_tenant: Any, stub_model: StubModel, snapshot: Any, status: int
) -> None:
    with start_server(model_retries=2) as url:
        tenant: Tenant = await make_tenant(base_url=url)
        before = await snapshot(tenant.account_id)
        stub_model.enqueue(Scripted(status=status), "never asked")
        error = assert_error(await tenant.reply(), 502, "LLM_REQUEST_REJECTED")
        assert f"HTTP {status}" in error["error"] and "will not help" in error["error"]
        assert len(stub_model.requests) == 1
        assert_kept_uncharged(before, await snapshot(tenant.account_id))


async def test_model_timeout_is_llm_timeout(
    start_server: Any, make_tenant: Any, stub_model: StubModel, snapshot: Any
) -> None:
    gate = threading.Event()
    with start_server(model_timeout_s=0.3) as url:
        tenant: Tenant = await make_tenant(base_url=url)
        stub_model.enqueue(Scripted(text="too late", gate=gate))
        try:
            before = await snapshot(tenant.account_id)
            assert_error(await tenant.reply(), 504, "LLM_TIMEOUT")
            assert_kept_uncharged(before, await snapshot(tenant.account_id))
        finally:
            gate.set()


async def test_unconfigured_openai_provider_says_what_to_set(start_server: Any, make_tenant: Any) -> None:
    with start_server(openai_base_url=None, openai_api_key=None) as url:
        tenant: Tenant = await make_tenant(base_url=url)
        error = assert_error(await tenant.reply(), 502, "LLM_ERROR")
        assert "REPLYD_OPENAI_API_KEY" in error["error"]


async def test_unknown_path_and_wrong_method_answer_in_the_envelope(server: str) -> None:
    async with httpx.AsyncClient(base_url=server) as client:
        assert_error(await client.get("/api/nothing-here"), 404, "NOT_FOUND")
        assert_error(await client.get(ROUTE), 405, "METHOD_NOT_ALLOWED")


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"message": "hi\u0000there"}, "message"),
        ({"customer_identifier": "c\u0000"}, "customer_identifier"),
        ({"variables": {"name": "a\u0000b"}}, "variables.name"),
        ({"variables": {"k\u0000": "v"}}, "variables.k\\u0000"),
    ],
)
async def test_text_with_a_nul_character_is_refused_before_the_database(
    tenant: Tenant, snapshot: Any, change: dict[str, Any], field: str
) -> None:
    before = await snapshot(tenant.account_id)
    body = {"assistant_id": tenant.assistant_id, "customer_identifier": "c", "message": "hi"} | change
    error = assert_error(await tenant.client.post(ROUTE, json=body), 422, "VALIDATION_ERROR")
    assert detail_fields(error) == [field]
    assert await snapshot(tenant.account_id) == before


async def test_every_authenticated_answer_carries_the_rate_limit_headers_without_counting_a_reply(
    start_server: Any, make_tenant: Any
) -> None:
    with start_server(rate_limit="3/minute") as url:
        tenant: Tenant = await make_tenant(base_url=url)
        assert (await tenant.reply()).status_code == 200  # one reply counted
        reads = [
            await tenant.client.get("/api/assistants"),
            await tenant.client.get("/api/user/conversations"),
            await tenant.client.get("/api/account"),
            await tenant.client.get(f"/api/conversations/{uuid.uuid4()}"),  # an error answer too
        ]
        for read in reads:
            assert (read.headers["X-RateLimit-Limit"], read.headers["X-RateLimit-Remaining"]) == ("3", "2"), read.url
            assert int(read.headers["X-RateLimit-Reset"]) > 0
        assert (await tenant.reply()).headers["X-RateLimit-Remaining"] == "1"  # the reads counted nothing
