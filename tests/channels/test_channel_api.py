"""Channels through the API: an admin connects an assistant to WhatsApp, Twilio or Telegram;
the credentials are checked field by field, stored sealed and never shown again; the secret
for the platform's side is shown once; a server without a channel key says how to make one."""

from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from replyd.channels.sealing import Sealer
from replyd.settings import Settings
from replyd.store.channels import Channel
from tests.api.test_errors import assert_error
from tests.conftest import CHANNEL_KEY, Tenant

BOT_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw"
CREDENTIALS = {
    "telegram": {"bot_token": BOT_TOKEN},
    "whatsapp": {"access_token": "EAAG-token", "app_secret": "app-secret", "phone_number_id": "106540352242922"},
    "twilio": {"account_sid": "AC" + "0" * 32, "auth_token": "twilio-auth", "from_number": "+15005550006"},
}


async def add(tenant: Tenant, kind: str, **fields: Any) -> Any:
    body = {"assistant_id": tenant.assistant_id, "kind": kind, "credentials": CREDENTIALS[kind]} | fields
    return await tenant.client.post("/api/channels", json=body)


@pytest.mark.parametrize(("kind", "secret_shown"), [("telegram", True), ("whatsapp", True), ("twilio", False)])
async def test_a_channel_is_added_with_its_inbound_path_and_the_platforms_secret_shown_once(
    tenant: Tenant, db: async_sessionmaker[AsyncSession], kind: str, secret_shown: bool
) -> None:
    added = await add(tenant, kind)
    assert added.status_code == 200, added.text
    channel, secret = added.json()["channel"], added.json()["inbound_secret"]
    assert channel["inbound_path"] == f"/channels/{channel['id']}/{kind}"
    assert (channel["assistant_id"], channel["kind"]) == (tenant.assistant_id, kind)
    assert (secret is not None) == secret_shown
    if secret_shown:
        assert len(secret) >= 40 and secret.replace("_", "").replace("-", "").isalnum()

    listed = (await tenant.client.get("/api/channels")).json()["data"]
    assert listed == [channel]  # no credentials, no secret
    async with db() as session:
        row = await session.scalar(select(Channel).where(Channel.id == channel["id"]))
    assert row is not None and row.inbound_secret == secret
    for value in CREDENTIALS[kind].values():
        assert value not in row.credentials  # sealed
    assert Sealer(CHANNEL_KEY).open(row.credentials) == CREDENTIALS[kind]


@pytest.mark.parametrize(
    ("kind", "credentials", "fields"),
    [
        ("telegram", {"bot_token": "not a token"}, ["credentials.bot_token"]),
        ("telegram", {}, ["credentials.bot_token"]),
        ("telegram", {"bot_token": BOT_TOKEN, "extra": 1}, ["credentials.extra"]),
        (
            "whatsapp",
            {"access_token": "x", "app_secret": "y", "phone_number_id": "12ab"},
            ["credentials.phone_number_id"],
        ),
        (
            "twilio",
            {"account_sid": "AC1", "auth_token": "t", "from_number": "5550006"},
            ["credentials.account_sid", "credentials.from_number"],
        ),
        ("signal", {}, ["kind"]),
    ],
)
async def test_wrong_credentials_are_named_field_by_field_and_nothing_is_stored(
    tenant: Tenant, kind: str, credentials: dict[str, Any], fields: list[str]
) -> None:
    body = {"assistant_id": tenant.assistant_id, "kind": kind, "credentials": credentials}
    error = assert_error(await tenant.client.post("/api/channels", json=body), 422, "VALIDATION_ERROR")
    assert [d["field"] for d in error["details"]] == fields
    assert (await tenant.client.get("/api/channels")).json()["data"] == []


async def test_another_accounts_assistant_cannot_be_connected(tenant: Tenant, make_tenant: Any) -> None:
    other: Tenant = await make_tenant()
    refused = await add(tenant, "telegram", assistant_id=other.assistant_id)
    assert_error(refused, 404, "ASSISTANT_NOT_FOUND")
    assert (await other.client.get("/api/channels")).json()["data"] == []


async def test_a_channel_is_removed_by_its_account_only_and_removing_again_answers_the_same(
    tenant: Tenant, make_tenant: Any
) -> None:
    channel_id = (await add(tenant, "telegram")).json()["channel"]["id"]
    other: Tenant = await make_tenant()
    assert (await other.client.delete(f"/api/channels/{channel_id}")).status_code == 200
    assert len((await tenant.client.get("/api/channels")).json()["data"]) == 1  # not the other's to remove
    for _ in range(2):
        removed = await tenant.client.delete(f"/api/channels/{channel_id}")
        assert removed.json() == {"success": True, "channel_id": channel_id, "deleted": True}
    assert (await tenant.client.get("/api/channels")).json()["data"] == []


async def test_a_server_without_a_channel_key_says_how_to_make_one(
    start_server: Callable[..., AbstractContextManager[str]], make_tenant: Any
) -> None:
    with start_server(channel_key=None) as url:
        tenant: Tenant = await make_tenant(base_url=url)
        error = assert_error(await add(tenant, "telegram"), 409, "CHANNEL_KEY_MISSING")
        assert (await tenant.client.get("/api/channels")).json()["data"] == []
    assert "replyd channels keygen" in error["error"] and "REPLYD_CHANNEL_KEY" in error["error"]


def test_a_channel_key_that_is_not_a_key_is_refused_at_start() -> None:
    with pytest.raises(ValueError, match="replyd channels keygen"):
        Settings(_env_file=None, channel_key="not-a-fernet-key")  # type: ignore[call-arg]
