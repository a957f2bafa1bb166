"""``create_app(settings)``: the FastAPI app of replyd. Nothing is built at import time, so a
process (or a test) can make as many differently configured apps as it likes."""

import logging
import multiprocessing
import os
import signal
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from replyd import __version__, console
from replyd.api.docs import install_docs
from replyd.api.envelope import install_error_handlers
from replyd.api.middleware import RateLimitHeaders
from replyd.api.request_log import RequestLog
from replyd.api.routes import (
    account,
    assistants,
    channel_inbound,
    channels,
    conversations,
    customers,
    health,
    replies,
    tokens,
    webhooks,
    widget,
)
from replyd.services import Services
from replyd.settings import Settings
from replyd.telemetry import Telemetry, configure_json_logs

log = logging.getLogger(__name__)


def create_app(settings: Settings, *, preload_model: bool = False) -> FastAPI:
    """``preload_model`` loads the embedded model at start-up instead of on the first reply."""

    telemetry = Telemetry(settings.prometheus_multiproc_dir)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = Services.build(settings, telemetry)
        app.state.replyd = state
        if preload_model:
            await state.providers.preload_local()
        state.start_background_work()
        try:
            yield
        finally:
            await state.aclose()
            telemetry.close()

    app = FastAPI(
        title="replyd",
        version=__version__,
        description="Self-hosted AI reply server; its main endpoint keeps Famulor's generate-reply contract.",
        lifespan=lifespan,
        docs_url=None,  # install_docs serves /docs and /redoc without a CDN
        redoc_url=None,
    )
    install_error_handlers(app)
    app.add_middleware(RateLimitHeaders)
    app.add_middleware(RequestLog, telemetry=telemetry)
    for module in (
        replies,
        conversations,
        customers,
        assistants,
        account,
        tokens,
        webhooks,
        channels,
        channel_inbound,
        widget,
        health,
    ):
        app.include_router(module.router)
    app.include_router(console.router)
    app.mount(console.STATIC_PATH, console.static_files(), name="console-static")
    install_docs(app)
    return app


def app_from_environment() -> FastAPI:
    """The factory ``replyd serve`` hands uvicorn: each worker process builds its own app from
    the same REPLYD_* environment, logs JSON, and loads the embedded model at start-up (unless
    ``REPLYD_PRELOAD_LOCAL_MODEL`` is off)."""
    configure_json_logs()
    stop_with_parent()
    settings = Settings()
    return create_app(settings, preload_model=settings.preload_local_model)


def stop_with_parent() -> None:
    """In a worker of ``replyd serve --workers N``: shut down (gracefully, as on SIGTERM) once
    the supervising parent is gone, even if it died by SIGKILL; orphaned workers would keep
    the port, and the next ``replyd serve`` could not bind it. uvicorn starts workers with
    multiprocessing's spawn, which hands each one a pipe from the parent that reaches its end
    when the parent exits: a thread waits for that. One worker runs in the parent itself."""
    parent = multiprocessing.parent_process()
    if parent is not None:
        threading.Thread(target=_terminate_after, args=(parent,), name="replyd-parent-watch", daemon=True).start()


def _terminate_after(parent: multiprocessing.process.BaseProcess) -> None:
    parent.join()  # returns when the parent's end of the pipe closes: the parent has exited
    log.warning("the serving parent process %s has exited; this worker stops too", parent.pid)
    os.kill(os.getpid(), signal.SIGTERM)
