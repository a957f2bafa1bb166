"""An account's admins manage its API tokens: list them (never the secrets), create one (shown
once, working at once), revoke one (401 from then on); another account's token is a 404, the
account's last admin token stays, a replies token may do none of it, and bad input is refused
in the envelope with nothing created."""

from collections.abc import Callable
from typing import Any

import httpx

from tests.api.test_errors import assert_error
from tests.conftest import Tenant


async def create(tenant: Tenant, **body: object) -> httpx.Response:
    return await tenant.client.post("/api/tokens", json=body)


async def listed(tenant: Tenant) -> list[dict[str, object]]:
    answer = await tenant.client.get("/api/tokens")
    assert answer.status_code == 200, answer.text
    data: list[dict[str, object]] = answer.json()["data"]
    return data


def with_token(client: httpx.AsyncClient, secret: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(base_url=client.base_url, headers={"Authorization": f"Bearer {secret}"})


async def test_a_created_token_works_at_once_and_is_listed_without_its_secret(tenant: Tenant) -> None:
    created = await create(tenant, scope="replies", rate_limit="60/minute")
    assert created.status_code == 200, created.text
    new = created.json()
    assert new["scope"] == "replies" and new["api_token"].startswith("rpd_")
    async with with_token(tenant.client, new["api_token"]) as client:
        assert (await client.get("/api/user/conversations")).status_code == 200
        assert_error(await client.get("/api/tokens"), 403, "FORBIDDEN")  # replies may not manage tokens
    tokens = await listed(tenant)
    assert [t["id"] for t in tokens] == [new["token_id"], tenant.token_id]  # newest first
    assert tokens[0] | {"created_at": None} == {
        "id": new["token_id"],
        "prefix": new["api_token"][:12],
        "scope": "replies",
        "rate_limit": "60/minute",
        "name": None,
        "created_at": None,
        "revoked_at": None,
    }
    assert new["api_token"] not in str(tokens)


async def test_a_revoked_token_gets_401_at_once_and_stays_listed_as_revoked(tenant: Tenant) -> None:
    new = (await create(tenant, scope="admin")).json()
    revoked = await tenant.client.delete(f"/api/tokens/{new['token_id']}")
    assert revoked.json() == {"success": True, "token_id": new["token_id"], "revoked": True}
    async with with_token(tenant.client, new["api_token"]) as client:
        assert_error(await client.get("/api/account"), 401, "UNAUTHENTICATED")
    [entry] = [t for t in await listed(tenant) if t["id"] == new["token_id"]]
    assert entry["revoked_at"] is not None
    assert (await tenant.client.delete(f"/api/tokens/{new['token_id']}")).status_code == 200  # idempotent


async def test_another_accounts_token_is_not_found_and_stays_active(
    tenant: Tenant, make_tenant: Callable[..., Any]
) -> None:
    other: Tenant = await make_tenant()
    assert_error(await tenant.client.delete(f"/api/tokens/{other.token_id}"), 404, "NOT_FOUND")
    assert (await other.client.get("/api/account")).status_code == 200


async def test_the_accounts_last_admin_token_cannot_be_revoked(tenant: Tenant) -> None:
    refused = await tenant.client.delete(f"/api/tokens/{tenant.token_id}")
    body = assert_error(refused, 422, "VALIDATION_ERROR")
    assert "last admin token" in body["details"][0]["message"]
    assert (await tenant.client.get("/api/account")).status_code == 200
    second = (await create(tenant, scope="admin")).json()
    assert (await tenant.client.delete(f"/api/tokens/{tenant.token_id}")).status_code == 200  # now it may go
    async with with_token(tenant.client, second["api_token"]) as client:
        assert (await client.get("/api/account")).status_code == 200


async def test_bad_input_is_refused_and_nothing_is_created(tenant: Tenant) -> None:
    for body, field in [
        ({"scope": "root"}, "scope"),
        ({"rate_limit": "lots"}, "rate_limit"),
        ({"scope": "admin", "expires": "never"}, "expires"),
    ]:
        refused = assert_error(await create(tenant, **body), 422, "VALIDATION_ERROR")
        assert [d["field"] for d in refused["details"]] == [field]
    assert [t["id"] for t in await listed(tenant)] == [tenant.token_id]
