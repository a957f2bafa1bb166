"""What operators see: health, readiness, metrics, request ids and JSON log lines."""

import json
import logging
from typing import Any

import httpx
import pytest

from replyd.telemetry import JsonFormatter
from tests.conftest import Tenant


async def test_health_and_readiness(server: str) -> None:
    async with httpx.AsyncClient(base_url=server) as client:
        assert (await client.get("/healthz")).json() == {"status": "ok"}
        ready = await client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["status"] == "ready" and ready.json()["checks"]["database"] is True


async def test_readiness_fails_when_the_database_is_gone(start_server: Any, tmp_path: Any) -> None:
    missing = tmp_path / "no-such-dir" / "replyd.db"
    with start_server(database_url=f"sqlite:///{missing}") as url:
        async with httpx.AsyncClient(base_url=url) as client:
            ready = await client.get("/readyz")
            assert (await client.get("/healthz")).status_code == 200
    assert ready.status_code == 503
    assert ready.json()["status"] == "unavailable" and ready.json()["checks"]["database"] is False


async def test_metrics_count_requests_model_tokens_and_refusals(make_tenant: Any, start_server: Any) -> None:
    with start_server() as url:
        tenant: Tenant = await make_tenant(base_url=url, rate_limit="1/minute")
        await tenant.reply("hello")
        await tenant.reply("again")
        async with httpx.AsyncClient(base_url=url) as client:
            text = (await client.get("/metrics")).text
    assert 'replyd_http_requests_total{method="POST",route="/api/ai/generate-reply",status="200"} 1.0' in text
    assert 'replyd_http_requests_total{method="POST",route="/api/ai/generate-reply",status="429"} 1.0' in text
    assert 'replyd_model_call_seconds_count{provider="openai"} 1.0' in text
    assert 'replyd_model_tokens_total{kind="prompt",provider="openai"}' in text
    assert "replyd_rate_limited_total 1.0" in text
    assert "replyd_http_request_seconds_bucket" in text


async def test_a_request_id_is_returned_and_a_sane_one_is_kept(tenant: Tenant) -> None:
    generated = await tenant.reply()
    assert len(generated.headers["X-Request-Id"]) == 32
    kept = await tenant.client.get("/api/account", headers={"X-Request-Id": "trace-42.a_b"})
    assert kept.headers["X-Request-Id"] == "trace-42.a_b"
    replaced = await tenant.client.get("/api/account", headers={"X-Request-Id": "bad id with spaces"})
    assert replaced.headers["X-Request-Id"] != "bad id with spaces"


async def test_each_request_logs_one_json_line_without_text_or_token(
    tenant: Tenant, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="replyd.requests"):
        response = await tenant.reply("my secret message", customer="+49 secret")
    lines = [JsonFormatter().format(r) for r in caplog.records if r.name == "replyd.requests"]
    assert len(lines) == 1
    line = json.loads(lines[0])
    assert line["request_id"] == response.headers["X-Request-Id"]
    assert (line["route"], line["status"], line["token_id"]) == ("/api/ai/generate-reply", 200, tenant.token_id)
    documented = [
        "time",
        "level",
        "logger",
        "message",
        "request_id",
        "method",
        "route",
        "status",
        "duration_ms",
        "token_id",
    ]
    assert sorted(line) == sorted(documented), "the fields docs/operations.md shows, and no others"
    assert "secret" not in lines[0] and tenant.token not in lines[0]
