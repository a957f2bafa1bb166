"""``replyd webhooks``: the endpoints that receive an account's events, and their deliveries."""

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from replyd.cli.common import JsonOption, console, emit, fail, load_settings, with_services
from replyd.events.types import EVENT_TYPES
from replyd.services import Services
from replyd.services.webhooks import DeliveryView, EndpointView, NewEndpoint

webhooks_app = typer.Typer(
    help="Endpoints that receive an account's events, and their deliveries.", no_args_is_help=True
)


def _endpoint_json(endpoint: EndpointView) -> dict[str, object]:
    return {
        "endpoint_id": endpoint.id,
        "account_id": endpoint.account_id,
        "url": endpoint.url,
        "events": endpoint.event_types,
        "enabled": endpoint.enabled,
        "disabled_reason": endpoint.disabled_reason,
        "failing_since": endpoint.failing_since.isoformat() if endpoint.failing_since else None,
        "created_at": endpoint.created_at.isoformat(),
    }


def _delivery_json(delivery: DeliveryView) -> dict[str, object]:
    return {
        "delivery_id": delivery.id,
        "event_id": delivery.event_id,
        "event_type": delivery.event_type,
        "status": delivery.status,
        "attempts": delivery.attempts,
        "last_status_code": delivery.last_status_code,
        "last_error": delivery.last_error,
        "last_latency_ms": delivery.last_latency_ms,
        "created_at": delivery.created_at.isoformat(),
    }


@webhooks_app.command("add")
def add(
    account_id: int = typer.Argument(...),
    url: str = typer.Argument(..., help="Where events are POSTed (http or https)."),
    events: str = typer.Option("", help=f"Comma-separated types to receive (default: all): {', '.join(EVENT_TYPES)}."),
    as_json: bool = JsonOption,
) -> None:
    """Add an endpoint; its signing secret is shown once."""
    types = [t.strip() for t in events.split(",") if t.strip()]

    async def work(services: Services) -> NewEndpoint:
        return await services.webhooks.add(account_id, url, types)

    new = with_services(load_settings(), work)
    emit(
        as_json,
        {"endpoint_id": new.endpoint.id, "secret": new.secret, "events": new.endpoint.event_types},
        f"Added endpoint [bold]{new.endpoint.id}[/] for account {account_id}: {escape(url)} "
        f"({', '.join(new.endpoint.event_types) or 'every event'}).\n"
        f"Signing secret (shown once; verify deliveries with a Standard Webhooks library): [bold]{new.secret}[/]",
    )


@webhooks_app.command("list")
def list_(account_id: int = typer.Argument(...), as_json: bool = JsonOption) -> None:
    """List an account's endpoints."""

    async def work(services: Services) -> list[EndpointView]:
        await services.accounts.get(account_id)  # an unknown account is an error, not an empty list
        return await services.webhooks.endpoints(account_id)

    endpoints = with_services(load_settings(), work)
    if as_json:
        emit(True, {"data": [_endpoint_json(e) for e in endpoints]}, "")
        return
    if not endpoints:
        console.print(f"Account {account_id} has no endpoints; add one with `replyd webhooks add {account_id} URL`.")
        return
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("id", "url", "events", "state"):
        table.add_column(column, overflow="fold")
    for endpoint in endpoints:
        state = "enabled" if endpoint.enabled else f"[bold red]disabled[/]: {escape(endpoint.disabled_reason or '')}"
        table.add_row(str(endpoint.id), escape(endpoint.url), ", ".join(endpoint.event_types) or "all", state)
    console.print(table)


@webhooks_app.command("remove")
def remove(endpoint_id: int = typer.Argument(...), as_json: bool = JsonOption) -> None:
    """Remove an endpoint; its pending deliveries go with it."""

    async def work(services: Services) -> bool:
        return await services.webhooks.remove(None, endpoint_id)

    if not with_services(load_settings(), work):
        fail(f"There is no endpoint {endpoint_id}.")
    emit(as_json, {"endpoint_id": endpoint_id, "removed": True}, f"Removed endpoint {endpoint_id}.")


@webhooks_app.command("enable")
def enable(endpoint_id: int = typer.Argument(...), as_json: bool = JsonOption) -> None:
    """Turn a disabled endpoint back on; its pending deliveries go out again, in order."""

    async def work(services: Services) -> EndpointView:
        return await services.webhooks.enable(None, endpoint_id)

    endpoint = with_services(load_settings(), work)
    emit(as_json, _endpoint_json(endpoint), f"Endpoint {endpoint_id} is enabled: {escape(endpoint.url)}")


@webhooks_app.command("deliveries")
def deliveries(
    endpoint_id: int = typer.Argument(...),
    limit: int = typer.Option(20, min=1, max=100, help="At most this many, newest first."),
    as_json: bool = JsonOption,
) -> None:
    """An endpoint's newest deliveries, each with its last attempt."""

    async def work(services: Services) -> list[DeliveryView]:
        return await services.webhooks.deliveries(None, endpoint_id, limit)

    found = with_services(load_settings(), work)
    if as_json:
        emit(True, {"data": [_delivery_json(d) for d in found]}, "")
        return
    if not found:
        console.print("No deliveries yet.")
        return
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("id", "event", "status", "attempts", "last answer", "at (UTC)"):
        table.add_column(column, overflow="fold")
    for d in found:
        answer = str(d.last_status_code) if d.last_status_code is not None else escape(d.last_error or "-")
        when = d.created_at.strftime("%Y-%m-%d %H:%M:%S")
        table.add_row(str(d.id), f"{d.event_type} {d.event_id}", d.status, str(d.attempts), answer, when)
    console.print(table)


@webhooks_app.command("replay")
def replay(delivery_id: int = typer.Argument(...), as_json: bool = JsonOption) -> None:
    """Send a delivery's event to its endpoint again, now (with the same webhook-id)."""

    async def work(services: Services) -> int:
        return await services.webhooks.replay(None, delivery_id)

    new_id = with_services(load_settings(), work)
    emit(
        as_json,
        {"delivery_id": new_id, "replay_of": delivery_id},
        f"Delivery {delivery_id} replayed as delivery {new_id}; a running `replyd serve` sends it now.",
    )
