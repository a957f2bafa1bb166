"""Functions end to end: the stub model asks for calls, replyd runs them against a real local
webhook server, feeds the results back, and lists every call in the reply."""

import json
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import update

from replyd.clock import utcnow
from replyd.functions.signing import ROTATION_OVERLAP
from replyd.services.accounts import AccountService
from replyd.store.tables import Account
from tests.conftest import Tenant
from tests.servers import Scripted, StubModel, Webhook, serve_in_thread

DAY_SCHEMA = {"type": "object", "properties": {"day": {"type": "string"}}, "required": ["day"]}


@pytest.fixture(scope="session")
def webhook_server() -> Iterator[tuple[Webhook, str]]:
    webhook = Webhook()
    with serve_in_thread(webhook.app()) as url:
        yield webhook, url


@pytest.fixture
def webhook(webhook_server: tuple[Webhook, str]) -> Iterator[Webhook]:
    server, _ = webhook_server
    server.reset()
    yield server
    server.gate.set()


@pytest.fixture
def make_tenant(make_tenant: Any, webhook: Webhook) -> Any:
    """Tenants whose webhook secret the receiver trusts: it refuses calls no trusted secret signed."""

    async def make(**fields: Any) -> Tenant:
        tenant: Tenant = await make_tenant(**fields)
        webhook.trust(tenant.webhook_secret)
        return tenant

    return make


@pytest.fixture
def hook_url(webhook_server: tuple[Webhook, str]) -> str:
    return webhook_server[1]


def function(name: str, url: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "description": f"{name} things", "parameters": DAY_SCHEMA, "url": url, **extra}


def sent_body(webhook: Webhook, n: int = 0) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(webhook.calls[n].body)
    return body


async def test_a_call_is_signed_sent_and_its_result_fed_back(
    make_tenant: Any, stub_model: StubModel, webhook: Webhook, hook_url: str
) -> None:
    tenant: Tenant = await make_tenant(functions=[function("book", f"{hook_url}/json/book", headers={"X-Key": "k1"})])
    stub_model.enqueue(Scripted(tool_calls=[("book", {"day": "fri"})]), "Booked for Friday.")
    response = await tenant.reply("Book me on Friday", customer="c-9", variables={"plan": "gold"})
    body = response.json()
    assert response.status_code == 200
    assert body["reply"] == "Booked for Friday."
    assert body["function_calls"] == [
        {"name": "book", "arguments": {"day": "fri"}, "result": {"ok": True, "arguments": {"day": "fri"}}}
    ]
    call = webhook.calls[0]
    assert call.path == "/json/book" and call.headers["x-key"] == "k1"
    assert call.verified_with == [tenant.webhook_secret]
    assert call.headers["webhook-id"].startswith("msg_")
    assert json.loads(call.body) == {
        "function": "book",
        "arguments": {"day": "fri"},
        "assistant_id": tenant.assistant_id,
        "conversation_id": body["conversation_id"],
        "customer_identifier": "c-9",
        "variables": {"plan": "gold"},
    }
    first, second = stub_model.requests
    assert [t["function"]["name"] for t in first["tools"]] == ["book"]
    assert first["tools"][0]["function"]["parameters"] == DAY_SCHEMA
    tool_message = second["messages"][-1]
    assert tool_message["role"] == "tool"
    assert json.loads(tool_message["content"]) == body["function_calls"][0]["result"]
    assert second["messages"][-2]["tool_calls"][0]["id"] == tool_message["tool_call_id"]


async def test_two_calls_in_one_round_run_and_are_listed_in_order(
    make_tenant: Any, stub_model: StubModel, webhook: Webhook, hook_url: str
) -> None:
    tenant: Tenant = await make_tenant(
        functions=[function("book", f"{hook_url}/json/book"), function("lookup", f"{hook_url}/text/lookup")]
    )
    stub_model.enqueue(Scripted(tool_calls=[("lookup", {"day": "mon"}), ("book", {"day": "tue"})]), "Done.")
    body = (await tenant.reply()).json()
    assert [c["name"] for c in body["function_calls"]] == ["lookup", "book"]
    assert body["function_calls"][0]["result"] == "Friday 10:00 is free."
    assert sorted(call.path for call in webhook.calls) == ["/json/book", "/text/lookup"]
    assert len({call.headers["webhook-id"] for call in webhook.calls}) == 2
    tool_ids = [m["tool_call_id"] for m in stub_model.requests[1]["messages"] if m["role"] == "tool"]
    assert tool_ids == [c["id"] for c in stub_model.requests[1]["messages"][-3]["tool_calls"]]


async def test_a_chain_of_rounds_lists_every_call(
    make_tenant: Any, stub_model: StubModel, webhook: Webhook, hook_url: str
) -> None:
    tenant: Tenant = await make_tenant(
        functions=[function("lookup", f"{hook_url}/text/lookup"), function("book", f"{hook_url}/json/book")]
    )
    stub_model.enqueue(
        Scripted(tool_calls=[("lookup", {"day": "fri"})]), Scripted(tool_calls=[("book", {"day": "fri"})]), "All set."
    )
    body = (await tenant.reply()).json()
    assert body["reply"] == "All set."
    assert [c["name"] for c in body["function_calls"]] == ["lookup", "book"]
    assert len(stub_model.requests) == 3


@pytest.mark.parametrize(
    ("arguments", "complaint"),
    [
        ({"day": 5}, "invalid arguments: day: 5 is not of type 'string'"),
        ("{oops", "not valid JSON"),
        ({}, "required"),
        ('{"day": "\\ud800"}', "invalid arguments: day: Must be valid Unicode text"),
        ('{"day": "fri\\u0000"}', "invalid arguments: day: Must not contain the NUL character"),
        ('{"day": ' + "[" * 5000 + "]" * 5000 + "}", "nested deeper than 64 levels"),
    ],
)
async def test_invalid_arguments_go_back_to_the_model_without_a_call(
    make_tenant: Any, stub_model: StubModel, webhook: Webhook, hook_url: str, arguments: Any, complaint: str
) -> None:
    tenant: Tenant = await make_tenant(functions=[function("book", f"{hook_url}/json/book")])
    stub_model.enqueue(Scripted(tool_calls=[("book", arguments)]), "Which day?")
    response = await tenant.reply()
    assert response.status_code == 200 and response.json()["reply"] == "Which day?"
    assert complaint in response.json()["function_calls"][0]["result"]["error"]
    assert webhook.calls == []
    assert complaint in stub_model.requests[1]["messages"][-1]["content"]
    history = await tenant.client.get(f"/api/conversations/{response.json()['conversation_id']}")
    assert (
        history.status_code == 200
        and complaint in history.json()["history"][-1]["function_calls"][0]["result"]["error"]
    )


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("status/500", {"error": "the function answered HTTP 500"}),
        ("status/404", {"error": "the function answered HTTP 404"}),
        ("text/x", "Friday 10:00 is free."),
        ("binary/x", {"error": "the function's answer is neither JSON nor text"}),
        ("huge/x", {"error": "the function's answer is larger than 65536 bytes"}),
        (
            "surrogate/x",
            {"error": "the function's answer holds NUL, half a surrogate pair or JSON nested over 64 levels"},
        ),
        ("deep/x", {"error": "the function's answer holds NUL, half a surrogate pair or JSON nested over 64 levels"}),
        ("redirect/http:__127.0.0.1:9_json_x", {"error": "the function answered HTTP 302"}),
    ],
)
async def test_webhook_answers_become_results_or_errors_for_the_model(
    make_tenant: Any, stub_model: StubModel, webhook: Webhook, hook_url: str, path: str, expected: Any
) -> None:
    tenant: Tenant = await make_tenant(functions=[function("f", f"{hook_url}/{path}")])
    stub_model.enqueue(Scripted(tool_calls=[("f", {"day": "fri"})]), "Sorry about that.")
    response = await tenant.reply()
    assert response.status_code == 200
    assert response.json()["function_calls"][0]["result"] == expected
    assert len(webhook.calls) == 1  # the redirect was not followed
    assert (await tenant.client.get(f"/api/conversations/{response.json()['conversation_id']}")).status_code == 200


async def test_a_webhook_that_times_out_becomes_an_error_result(
    make_tenant: Any, stub_model: StubModel, webhook: Webhook, hook_url: str
) -> None:
    tenant: Tenant = await make_tenant(functions=[function("slow", f"{hook_url}/slow/x", timeout_s=0.3)])
    stub_model.enqueue(Scripted(tool_calls=[("slow", {"day": "fri"})]), "It is slow today.")
    response = await tenant.reply()
    assert response.json()["function_calls"][0]["result"] == {"error": "the function did not answer within 0.3 s"}
    assert response.json()["reply"] == "It is slow today."


async def test_the_round_limit_ends_with_an_answer_without_tools(
    make_tenant: Any, stub_model: StubModel, webhook: Webhook, hook_url: str
) -> None:
    tenant: Tenant = await make_tenant(functions=[function("f", f"{hook_url}/json/f")], max_function_rounds=2)
    stub_model.enqueue(
        Scripted(tool_calls=[("f", {"day": "1"})]), Scripted(tool_calls=[("f", {"day": "2"})]), "Final answer."
    )
    body = (await tenant.reply()).json()
    assert body["reply"] == "Final answer."
    assert len(body["function_calls"]) == 2
    assert ["tools" in r for r in stub_model.requests] == [True, True, False]


async def test_an_unknown_function_is_an_error_for_the_model(make_tenant: Any, stub_model: StubModel) -> None:
    tenant: Tenant = await make_tenant()
    stub_model.enqueue(Scripted(tool_calls=[("launch_rocket", {})]), "I can't do that.")
    body = (await tenant.reply()).json()
    assert body["function_calls"] == [
        {"name": "launch_rocket", "arguments": {}, "result": {"error": "no function 'launch_rocket'"}}
    ]
    assert "tools" not in stub_model.requests[0]


async def test_every_rounds_tokens_are_charged(
    make_tenant: Any, stub_model: StubModel, webhook: Webhook, hook_url: str, snapshot: Any
) -> None:
    tenant: Tenant = await make_tenant(
        functions=[function("f", f"{hook_url}/json/f")], balance="1", reply_fee="0", input_price_per_million_tokens="1"
    )
    stub_model.enqueue(
        Scripted(tool_calls=[("f", {"day": "x"})], usage=(1000, 0)), Scripted(text="ok", usage=(3000, 0))
    )
    await tenant.reply()
    assert (await snapshot(tenant.account_id)).balance_micros == 1_000_000 - 4000


async def test_calls_are_remembered_for_later_turns(
    make_tenant: Any, stub_model: StubModel, webhook: Webhook, hook_url: str
) -> None:
    tenant: Tenant = await make_tenant(functions=[function("book", f"{hook_url}/json/book")])
    stub_model.enqueue(Scripted(tool_calls=[("book", {"day": "fri"})]), "Booked.", "You are booked on Friday.")
    await tenant.reply("Book Friday")
    await tenant.reply("When am I booked?")
    later = stub_model.requests[2]["messages"]
    roles = [m["role"] for m in later if m["role"] != "system"]
    assert roles == ["user", "assistant", "tool", "assistant", "user"]
    assert json.loads(later[-3]["content"])["arguments"] == {"day": "fri"}


async def test_handoff_to_human_disables_the_ai(make_tenant: Any, stub_model: StubModel) -> None:
    tenant: Tenant = await make_tenant(handoff_enabled=True, handoff_message="A colleague will take over.")
    stub_model.enqueue(Scripted(tool_calls=[("handoff_to_human", {"reason": "wants a person"})]))
    handed = (await tenant.reply("I want to talk to a person")).json()
    assert handed["reply"] == "A colleague will take over."
    assert handed["ai_disabled"] is True
    assert handed["function_calls"] == [
        {"name": "handoff_to_human", "arguments": {"reason": "wants a person"}, "result": {"status": "handed_over"}}
    ]
    assert "handoff_to_human" in [t["function"]["name"] for t in stub_model.requests[0]["tools"]]
    after = (await tenant.reply("hello?")).json()
    assert (after["reply"], after["ai_disabled"]) == (None, True)
    assert len(stub_model.requests) == 1


async def test_handoff_is_not_offered_unless_enabled(make_tenant: Any, stub_model: StubModel) -> None:
    tenant: Tenant = await make_tenant()
    stub_model.enqueue(Scripted(tool_calls=[("handoff_to_human", {})]), "I am still here.")
    body = (await tenant.reply()).json()
    assert body["ai_disabled"] is False and body["reply"] == "I am still here."
    assert body["function_calls"][0]["result"] == {"error": "no function 'handoff_to_human'"}


@pytest.mark.parametrize(
    "host", ["127.0.0.1", "localhost", "[::1]", "[::ffff:127.0.0.1]", "169.254.169.254", "10.0.0.5"]
)
async def test_webhooks_to_internal_addresses_are_refused_without_a_connection(
    start_server: Any, make_tenant: Any, stub_model: StubModel, webhook: Webhook, hook_url: str, host: str
) -> None:
    port = hook_url.rsplit(":", 1)[1]
    with start_server(webhook_allow="") as url:
        tenant: Tenant = await make_tenant(base_url=url, functions=[function("f", f"http://{host}:{port}/json/f")])
        stub_model.enqueue(Scripted(tool_calls=[("f", {"day": "x"})]), "Could not book.")
        body = (await tenant.reply()).json()
    assert body["reply"] == "Could not book."
    assert body["function_calls"][0]["result"]["error"].startswith("refused:")
    assert webhook.calls == []


async def test_a_refused_redirect_target_is_never_reached(
    make_tenant: Any, stub_model: StubModel, webhook: Webhook, hook_url: str
) -> None:
    port = hook_url.rsplit(":", 1)[1]
    target = f"http:__127.0.0.1:{port}_json_target"
    tenant: Tenant = await make_tenant(functions=[function("f", f"{hook_url}/redirect/{target}")])
    stub_model.enqueue(Scripted(tool_calls=[("f", {"day": "x"})]), "ok")
    await tenant.reply()
    assert [call.path for call in webhook.calls] == [f"/redirect/{target}"]


async def test_for_a_day_after_a_rotation_calls_verify_with_the_new_secret_and_the_old(
    make_tenant: Any, stub_model: StubModel, webhook: Webhook, hook_url: str, db: Any
) -> None:
    tenant: Tenant = await make_tenant(functions=[function("book", f"{hook_url}/json/book")])
    old = tenant.webhook_secret
    new = await AccountService(db).rotate_webhook_secret(tenant.account_id)
    webhook.trust(new)
    stub_model.enqueue(Scripted(tool_calls=[("book", {"day": "fri"})]), "Booked.")
    await tenant.reply()
    assert webhook.calls[0].verified_with == [old, new]
    assert len(webhook.calls[0].headers["webhook-signature"].split(" ")) == 2

    async with db() as session, session.begin():
        a_day_ago = utcnow() - ROTATION_OVERLAP
        await session.execute(
            update(Account).where(Account.id == tenant.account_id).values(webhook_secret_rotated_at=a_day_ago)
        )
    stub_model.enqueue(Scripted(tool_calls=[("book", {"day": "sat"})]), "Booked.")
    body = (await tenant.reply()).json()
    assert webhook.calls[1].verified_with == [new]
    assert body["function_calls"][0]["result"] == {"ok": True, "arguments": {"day": "sat"}}
