"""Anything unexpected becomes 500 INTERNAL_ERROR with no stack trace or secret in the body."""

from typing import Any

import httpx

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
