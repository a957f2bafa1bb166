"""The Webhooks page over plain HTTP: it lists the account's endpoints (a disabled one says
why), shows a new endpoint's secret once, shows a bad URL beside its field, removes only with
the form's CSRF token; an endpoint's deliveries are listed and replayed from the console, and
another account's endpoints and deliveries answer 404."""

import re
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from replyd.services.views import MAX_ID
from tests.conftest import Tenant
from tests.console.conftest import Console
from tests.events.test_events import start_chat, subscribe
from tests.servers import EventReceiver, eventually

SECRET = re.compile(r"whsec_[A-Za-z0-9+/=]+")
REPLAY_ACTION = re.compile(r'action="(/console/webhooks/\d+/deliveries/\d+/replay)"')


async def endpoints(tenant: Tenant) -> list[dict[str, Any]]:
    """The account's endpoints as the API lists them."""
    data: list[dict[str, Any]] = (await tenant.client.get("/api/webhooks")).json()["data"]
    return data


async def deliveries(tenant: Tenant, endpoint_id: int) -> list[dict[str, Any]]:
    data: list[dict[str, Any]] = (await tenant.client.get(f"/api/webhooks/{endpoint_id}/deliveries")).json()["data"]
    return data


def statuses_are(tenant: Tenant, endpoint_id: int, *expected: str) -> Callable[[], Awaitable[bool]]:
    """For ``eventually``: whether the endpoint's deliveries, newest first, have these statuses."""

    async def check() -> bool:
        return [d["status"] for d in await deliveries(tenant, endpoint_id)] == list(expected)

    return check


def endpoint_row(page: str, endpoint_id: int) -> str:
    found = re.search(rf'<tr id="endpoint-{endpoint_id}".*?</tr>', page, re.DOTALL)
    assert found, f"the page lists no endpoint {endpoint_id}"
    return found.group(0)


async def test_the_page_lists_the_accounts_endpoints_and_says_why_one_is_disabled(
    make_tenant: Callable[..., Any], open_console: Callable[..., Any], receiver: tuple[EventReceiver, str]
) -> None:
    mine: Tenant = await make_tenant()
    theirs: Tenant = await make_tenant()
    inbox, url = receiver
    gone = await subscribe(mine, inbox, url)  # every type
    handbacks = await mine.client.post(
        "/api/webhooks", json={"url": "https://hooks.example.com/handbacks", "events": ["conversation.ai_enabled"]}
    )
    await theirs.client.post("/api/webhooks", json={"url": "https://theirs.example.com/x"})
    inbox.statuses.append(410)
    await start_chat(mine)

    async def disabled() -> bool:
        return not next(e for e in await endpoints(mine) if e["id"] == gone)["enabled"]

    await eventually(disabled)
    console: Console = await open_console(mine)
    page = (await console.client.get("/console/webhooks")).text
    assert 'href="/console/webhooks" aria-current="page"' in page
    assert "theirs.example.com" not in page
    assert "1 of your endpoints is disabled" in page
    row = endpoint_row(page, gone)
    assert url in row and ">all<" in row
    assert "Disabled" in row and "The endpoint answered 410 Gone." in row
    other = endpoint_row(page, handbacks.json()["endpoint"]["id"])
    assert "https://hooks.example.com/handbacks" in other and "<code>conversation.ai_enabled</code>" in other
    assert "Enabled" in other and "Disabled" not in other
    deliveries_page = (await console.client.get(f"/console/webhooks/{gone}/deliveries")).text
    assert "HTTP 410" in deliveries_page and "The endpoint answered 410 Gone." in deliveries_page
    assert REPLAY_ACTION.findall(deliveries_page) == [], "a disabled endpoint is sent nothing, so no replay"

    assert (await console.client.post(f"/console/webhooks/{gone}/enable")).status_code == 403, "no CSRF token"
    enabled = await console.post(f"/console/webhooks/{gone}/enable", follow_redirects=True)
    assert "Endpoint enabled" in enabled.text
    assert "Enabled" in endpoint_row(enabled.text, gone) and "Disabled" not in endpoint_row(enabled.text, gone)
    assert (
        await console.post(f"/console/webhooks/{handbacks.json()['endpoint']['id'] + 10_000}/enable")
    ).status_code == 404


async def test_an_endpoint_added_in_the_console_shows_its_secret_once(
    tenant: Tenant, open_console: Callable[..., Any]
) -> None:
    console: Console = await open_console(tenant)
    form = {
        "url": "https://hooks.example.com/replyd",
        "event:message.created": "on",
        "event:conversation.ai_disabled": "on",
    }
    added = await console.post("/console/webhooks", form)
    assert added.status_code == 200
    secret = SECRET.search(added.text)
    assert secret and "it will not be shown again" in added.text
    [endpoint] = await endpoints(tenant)
    assert endpoint["url"] == "https://hooks.example.com/replyd"
    assert endpoint["events"] == ["conversation.ai_disabled", "message.created"]
    assert "whsec_" not in str(endpoint)
    again = (await console.client.get("/console/webhooks")).text
    assert "https://hooks.example.com/replyd" in endpoint_row(again, endpoint["id"])
    assert secret.group(0) not in again and "whsec_" not in again


@pytest.mark.parametrize("url", ["ftp://hooks.example.com/x", "not a url", ""])
async def test_a_bad_url_is_shown_beside_the_field_and_nothing_is_added(
    tenant: Tenant, open_console: Callable[..., Any], url: str
) -> None:
    console: Console = await open_console(tenant)
    refused = await console.post("/console/webhooks", {"url": url, "event:message.created": "on"})
    assert refused.status_code == 422
    error = re.search(r'<ul class="field-errors" id="error-url">(.*?)</ul>', refused.text, re.DOTALL)
    assert error and "must be an http or https URL" in error.group(1)
    assert 'aria-invalid="true"' in refused.text and "whsec_" not in refused.text
    assert f'value="{url}"' in refused.text and 'name="event:message.created" checked' in refused.text
    assert await endpoints(tenant) == []


async def test_removing_an_endpoint_needs_the_forms_csrf_token(
    tenant: Tenant, open_console: Callable[..., Any]
) -> None:
    created = await tenant.client.post("/api/webhooks", json={"url": "https://hooks.example.com/x"})
    path = f"/console/webhooks/{created.json()['endpoint']['id']}/remove"
    console: Console = await open_console(tenant)
    assert f'action="{path}"' in (await console.client.get("/console/webhooks")).text
    for forged in ({}, {"csrf_token": "not-the-sessions"}):
        assert (await console.client.post(path, data=forged)).status_code == 403
    assert len(await endpoints(tenant)) == 1

    removed = await console.post(path)
    assert removed.status_code == 303 and removed.headers["location"] == "/console/webhooks?removed=1"
    assert await endpoints(tenant) == []
    page = (await console.client.get("/console/webhooks?removed=1")).text
    assert "Endpoint removed" in page and "hooks.example.com" not in page


async def test_the_deliveries_page_shows_a_failed_delivery_and_replay_sends_it_again(
    tenant: Tenant, open_console: Callable[..., Any], receiver: tuple[EventReceiver, str]
) -> None:
    inbox, url = receiver
    console: Console = await open_console(tenant)
    added = await console.post("/console/webhooks", {"url": url, "event:message.created": "on"})
    secret = SECRET.search(added.text)
    assert secret
    inbox.secret = secret.group(0)  # the receiver verifies every delivery with what the page showed
    [endpoint] = await endpoints(tenant)
    inbox.statuses.extend([500] * 4)  # every attempt the retry schedule allows fails
    conversation_id = await start_chat(tenant)
    said = await console.post(f"/console/conversations/{conversation_id}/messages", {"message": "Anna here."})
    assert said.status_code == 303

    await eventually(statuses_are(tenant, endpoint["id"], "failed"))
    path = f"/console/webhooks/{endpoint['id']}/deliveries"
    page = (await console.client.get(path)).text
    event_id = inbox.received[0][1]["id"]
    assert event_id in page and "message.created" in page
    assert ">failed<" in page and "HTTP 500" in page and "Failing since" in page
    [replay] = REPLAY_ACTION.findall(page)

    replayed = await console.post(replay)
    assert replayed.status_code == 303 and replayed.headers["location"] == f"{path}?replayed=1"
    await eventually(statuses_are(tenant, endpoint["id"], "delivered", "failed"))
    assert [p["id"] for p in inbox.payloads()] == [event_id]
    assert inbox.unverified == 0
    page = (await console.client.get(f"{path}?replayed=1")).text
    assert "Replayed" in page and "HTTP 200" in page and "Failing since" not in page
    assert len(REPLAY_ACTION.findall(page)) == 2


async def test_another_accounts_endpoint_and_its_deliveries_are_not_found(
    make_tenant: Callable[..., Any], open_console: Callable[..., Any], receiver: tuple[EventReceiver, str]
) -> None:
    mine: Tenant = await make_tenant()
    theirs: Tenant = await make_tenant()
    inbox, url = receiver
    their_endpoint = await subscribe(theirs, inbox, url, ["conversation.created"])
    await start_chat(theirs)
    await eventually(lambda: len(inbox.payloads()) == 1)
    [delivery] = await deliveries(theirs, their_endpoint)
    mine_created = await mine.client.post(
        "/api/webhooks", json={"url": "https://hooks.example.com/mine", "events": ["function.failed"]}
    )
    my_endpoint = mine_created.json()["endpoint"]["id"]
    console: Console = await open_console(mine)
    theirs_path = f"/console/webhooks/{their_endpoint}"
    for response in (
        await console.client.get(f"{theirs_path}/deliveries"),
        await console.post(f"{theirs_path}/remove"),
        await console.post(f"{theirs_path}/deliveries/{delivery['id']}/replay"),
        await console.post(f"/console/webhooks/{my_endpoint}/deliveries/{delivery['id']}/replay"),
        await console.client.get("/console/webhooks/not-a-number/deliveries"),
    ):
        assert response.status_code == 404
        assert url not in response.text and delivery["event_id"] not in response.text
    never = await console.client.get(f"/console/webhooks/{MAX_ID}/deliveries")
    assert never.status_code == 404
    assert (await console.client.get(f"{theirs_path}/deliveries")).text == never.text
    assert url not in (await console.client.get("/console/webhooks")).text
    assert len(await endpoints(theirs)) == 1 and len(await deliveries(theirs, their_endpoint)) == 1
