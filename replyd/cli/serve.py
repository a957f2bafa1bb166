"""``replyd serve``: migrate, then serve the HTTP API with uvicorn, in one or several worker
processes; each loads the embedded model at start-up and logs one JSON line per request."""

import os
import signal
import sys
import tempfile
import textwrap

import typer
import uvicorn

from replyd import __version__
from replyd.cli.common import errors, load_settings
from replyd.cli.setup import curl_example
from replyd.store.migrate import upgrade_database
from replyd.store.session import display_url

WORKER_HEALTHCHECK_S = 60
"""How long the supervisor waits for a worker to answer its ping before killing it as hung.
uvicorn's 5 s is shorter than a worker's start on a busy machine (spawn imports the whole
command line before the worker can answer), and workers were killed and restarted in a loop."""


def serve(
    host: str = typer.Option(
        "127.0.0.1", envvar="REPLYD_HOST", help="Address to listen on; 0.0.0.0 for every interface."
    ),
    port: int = typer.Option(8000, envvar="PORT", help="Port to listen on."),
    workers: int = typer.Option(
        1, min=1, envvar="REPLYD_WORKERS", help="Worker processes; more than one wants REPLYD_REDIS_URL."
    ),
) -> None:
    """Start the HTTP server (the database is migrated first)."""
    settings = load_settings()
    errors.print(f"replyd {__version__}: migrating database {display_url(settings.database_url)} ...")
    upgrade_database(settings.database_url)
    if workers > 1 and not settings.redis_url:
        errors.print(
            "[yellow]warning:[/] with several workers and no REPLYD_REDIS_URL, each worker keeps its own rate "
            "limits and conversation order, and a chat widget hears another worker's news only every "
            "REPLYD_LIVE_POLL_S; set REPLYD_REDIS_URL to share them."
        )
    base = f"http://{host}:{port}"
    model = "first" if settings.preload_local_model else "on the first reply that uses it"
    errors.print(
        f"Starting {workers} worker(s); each loads the embedded model (SmolLM2-135M-Instruct) {model}.\n"
        f"Serving on {base}  (API docs at {base}/docs, console at {base}/console, metrics at {base}/metrics)\n"
        "Try it with the API token `replyd init` printed (or a new one: `replyd tokens create ACCOUNT_ID`);\n"
        "assistant 1 is the demo assistant `replyd init` made:\n"
        "  TOKEN=rpd_...\n" + textwrap.indent(curl_example("$TOKEN", 1, base), "  "),
        markup=False,
        highlight=False,
    )
    # uvicorn re-raises SIGTERM once it has shut down gracefully; exit 0 then, as a clean stop.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    if workers == 1:
        run_workers(host, port, workers, settings.shutdown_grace_s)
        return
    # The workers add up their metrics in files here (see replyd/telemetry.py); a fresh directory
    # per run, as prometheus-client wants, removed when the server stops.
    with tempfile.TemporaryDirectory(prefix="replyd-metrics-") as metrics_dir:
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
        run_workers(host, port, workers, settings.shutdown_grace_s)


def run_workers(host: str, port: int, workers: int, shutdown_grace_s: int) -> None:
    uvicorn.run(
        "replyd.app:app_from_environment",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        timeout_graceful_shutdown=shutdown_grace_s,
        timeout_worker_healthcheck=WORKER_HEALTHCHECK_S,
        access_log=False,  # replyd logs each request itself, as JSON
        log_config=None,
    )


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
