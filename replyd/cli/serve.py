"""``replyd serve``: migrate, load the embedded model, and serve the HTTP API with uvicorn."""

import logging

import typer
import uvicorn

from replyd import __version__
from replyd.app import create_app
from replyd.cli.common import errors, load_settings
from replyd.store.migrate import upgrade_database
from replyd.store.session import display_url


def serve(
    host: str = typer.Option("127.0.0.1", help="Address to listen on; 0.0.0.0 for every interface."),
    port: int = typer.Option(8000, help="Port to listen on."),
) -> None:
    """Start the HTTP server (the database is migrated first)."""
    settings = load_settings()
    errors.print(f"replyd {__version__}: migrating database {display_url(settings.database_url)} ...")
    upgrade_database(settings.database_url)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(name)s %(message)s")
    errors.print("Loading the embedded model (SmolLM2-135M-Instruct) ...")
    app = create_app(settings, preload_model=True)
    base = f"http://{host}:{port}"
    errors.print(
        f"Serving on {base}  (API docs at {base}/docs)\n"
        f"Call it with the token `replyd init` printed (or make one: `replyd tokens create ACCOUNT_ID`):\n"
        f'  curl -s {base}/api/ai/generate-reply -H "Authorization: Bearer $REPLYD_TOKEN" '
        "-H 'Content-Type: application/json' \\\n"
        '    -d \'{"assistant_id": 1, "customer_identifier": "+49155551234", "message": "Hello!"}\''
    )
    uvicorn.run(app, host=host, port=port, log_level="info")


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
