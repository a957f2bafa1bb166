"""The ``replyd`` command: set-up, serving, and talking to assistants."""

import typer

from replyd import __version__
from replyd.cli import chat, serve, setup
from replyd.cli.accounts import accounts_app, tokens_app
from replyd.cli.assistants import assistants_app
from replyd.cli.channels import channels_app
from replyd.cli.conversations import conversations_app
from replyd.cli.customers import customers_app
from replyd.cli.webhooks import webhooks_app

app = typer.Typer(
    name="replyd",
    help="replyd: a self-hosted AI reply server. Settings come from REPLYD_* environment variables "
    "(REPLYD_DATABASE_URL, REPLYD_OPENAI_BASE_URL, ...) or a .env file.",
    no_args_is_help=True,
    add_completion=False,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"replyd {__version__}")
        raise typer.Exit()


@app.callback()
def main(
    version: bool = typer.Option(False, "--version", callback=_print_version, is_eager=True, help="Show the version."),
) -> None:
    """replyd: a self-hosted AI reply server."""


setup.register(app)
serve.register(app)
chat.register(app)
app.add_typer(accounts_app, name="accounts")
app.add_typer(tokens_app, name="tokens")
app.add_typer(assistants_app, name="assistants")
app.add_typer(conversations_app, name="conversations")
app.add_typer(customers_app, name="customers")
app.add_typer(webhooks_app, name="webhooks")
app.add_typer(channels_app, name="channels")
