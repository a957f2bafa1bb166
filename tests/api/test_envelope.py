"""Anything unexpected becomes 500 INTERNAL_ERROR with no stack trace or secret in the body,
answered like any other error, on a connection that stays open."""

from typing import Any

import httpx
from fastapi import Request

from replyd.app import create_app
from tests.servers import serve_in_thread


async def test_an_unexpected_error_is_an_internal_error_without_details(make_settings: Any) -> None:
    app = create_app(make_settings())

    async def explode() -> None:
        raise RuntimeError("password=hunter2 at /srv/secret.py line 3")

    app.add_api_route("/explode", explode)
    with serve_in_thread(app) as url:
        async with httpx.AsyncClient(base_url=url) as client:
            response = await client.get("/explode")
    assert response.status_code == 500
    assert response.json() == {
        "success": False,
        "error": "Something went wrong on our side; please retry later.",
        "error_code": "INTERNAL_ERROR",
    }
    assert "hunter2" not in response.text and "Traceback" not in response.text


async def test_an_unexpected_error_leaves_the_keep_alive_connection_usable(make_settings: Any) -> None:
    """The 500 is an ordinary answer: the client's next request goes over the same connection."""
    app = create_app(make_settings())

    async def explode() -> None:
        raise RuntimeError("boom")

    async def peer(request: Request) -> dict[str, int]:
        assert request.client is not None
        return {"port": request.client.port}

    app.add_api_route("/explode", explode)
    app.add_api_route("/peer", peer)
    with serve_in_thread(app) as url:
        async with httpx.AsyncClient(base_url=url) as client:
            before = (await client.get("/peer")).json()["port"]
            failed = await client.get("/explode")
            after = await client.get("/peer")
    assert failed.status_code == 500 and failed.json()["error_code"] == "INTERNAL_ERROR"
    assert "x-request-id" in failed.headers
    assert failed.headers.get("connection") != "close"
    assert after.status_code == 200 and after.json()["port"] == before
