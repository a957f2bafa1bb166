"""The live pages' event stream (Server-Sent Events); see ``console/live.py``."""

from fastapi import APIRouter, Request, Response
from fastapi.responses import StreamingResponse

from replyd.app_state import State
from replyd.console.live import event_stream
from replyd.console.sessions import SignedIn
from replyd.console.web import ConsoleRoute

router = APIRouter(route_class=ConsoleRoute, include_in_schema=False)


@router.get("/console/events")
async def events(request: Request, state: State, operator: SignedIn, since: str = "") -> Response:
    since = (request.headers.get("last-event-id") or since)[:100]
    return StreamingResponse(
        event_stream(request, state, operator, since),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"},
    )
