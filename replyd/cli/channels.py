"""``replyd channels``: assistants connected to WhatsApp, Twilio SMS or Telegram."""

import typer
from rich import box
from rich.table import Table

from replyd.channels.kinds import KINDS
from replyd.channels.sealing import new_key
from replyd.cli.common import JsonOption, console, emit, fail, load_settings, with_services
from replyd.services import Services
from replyd.services.channels import ChannelView, NewChannel

channels_app = typer.Typer(help="Assistants on WhatsApp, Twilio SMS and Telegram.", no_args_is_help=True)


def _channel_json(channel: ChannelView) -> dict[str, object]:
    return {
        "channel_id": channel.id,
        "account_id": channel.account_id,
        "assistant_id": channel.assistant_id,
        "kind": channel.kind,
        "inbound_path": channel.inbound_path,
        "created_at": channel.created_at.isoformat(),
    }


def _credentials(pairs: list[str]) -> dict[str, object]:
    """``["bot_token=123:abc"]`` -> ``{"bot_token": "123:abc"}``."""
    credentials: dict[str, object] = {}
    for pair in pairs:
        name, equals, value = pair.partition("=")
        if not equals or not name:
            fail(f"--credential takes NAME=VALUE, not {pair!r}.")
        credentials[name.strip()] = value
    return credentials


@channels_app.command("add")
def add(
    assistant_id: int = typer.Argument(...),
    kind: str = typer.Argument(..., help=f"One of {', '.join(KINDS)}."),
    credential: list[str] = typer.Option(
        [],
        "--credential",
        "-c",
        help="NAME=VALUE, repeated: whatsapp access_token, app_secret, phone_number_id; "
        "twilio account_sid, auth_token, from_number; telegram bot_token.",
    ),
    as_json: bool = JsonOption,
) -> None:
    """Connect an assistant to a channel; the secret for the platform's side is shown once."""
    credentials = _credentials(credential)

    async def work(services: Services) -> NewChannel:
        return await services.channels.add(None, assistant_id, kind, credentials)

    new = with_services(load_settings(), work)
    secret_line = (
        f"\n{KINDS[kind].inbound_secret} for the platform (shown once): [bold]{new.inbound_secret}[/]"
        if new.inbound_secret
        else ""
    )
    emit(
        as_json,
        _channel_json(new.channel) | {"inbound_secret": new.inbound_secret},
        f"Added {kind} channel [bold]{new.channel.id}[/] for assistant {assistant_id}; the platform sends to "
        f"{new.channel.inbound_path} on this server's public URL.{secret_line}",
    )


@channels_app.command("list")
def list_(
    account_id: int | None = typer.Option(None, "--account", help="Only this account's."), as_json: bool = JsonOption
) -> None:
    """List channels (every account's, or one's)."""

    async def work(services: Services) -> list[ChannelView]:
        return await services.channels.channels(account_id)

    channels = with_services(load_settings(), work)
    if as_json:
        emit(True, {"data": [_channel_json(c) for c in channels]}, "")
        return
    if not channels:
        console.print("No channels; add one with `replyd channels add ASSISTANT_ID KIND -c NAME=VALUE ...`.")
        return
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False)
    for column in ("id", "account", "assistant", "kind", "inbound path"):
        table.add_column(column)
    for c in channels:
        table.add_row(str(c.id), str(c.account_id), str(c.assistant_id), c.kind, c.inbound_path)
    console.print(table)


@channels_app.command("remove")
def remove(channel_id: int = typer.Argument(...), as_json: bool = JsonOption) -> None:
    """Remove a channel."""

    async def work(services: Services) -> bool:
        return await services.channels.remove(None, channel_id)

    if not with_services(load_settings(), work):
        fail(f"There is no channel {channel_id}.")
    emit(as_json, {"channel_id": channel_id, "removed": True}, f"Removed channel {channel_id}.")


@channels_app.command("keygen")
def keygen() -> None:
    """Print a new key for REPLYD_CHANNEL_KEY, which seals channels' credentials in the database."""
    console.print(new_key(), highlight=False)
