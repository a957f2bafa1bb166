"""The operator console: server-rendered pages under ``/console`` to watch conversations
live, take them over, answer as a human agent and hand them back; to manage and try
assistants; to see what was spent; and to manage the endpoints that receive the account's
events. Jinja2 templates and a little plain JavaScript, all shipped inside the package (no
build step, no CDN).

Like ``api/``, it is an HTTP layer over the engine's services; ``app.py`` includes
``router`` and mounts ``static_files()`` at ``STATIC_PATH``."""

from fastapi import APIRouter
from starlette.staticfiles import StaticFiles

from replyd.console.routes import (
    assistants,
    auth,
    canned_replies,
    channels,
    conversations,
    events,
    tokens,
    usage,
    webhooks,
    widget,
)
from replyd.console.web import HERE, STATIC_PATH

router = APIRouter(include_in_schema=False)
for _module in (auth, conversations, canned_replies, assistants, widget, usage, webhooks, channels, tokens, events):
    router.include_router(_module.router)


def static_files() -> StaticFiles:
    return StaticFiles(directory=HERE / "static")


__all__ = ["STATIC_PATH", "router", "static_files"]
