"""The chat widget's public endpoints, which pages on other sites call from the browser with
the widget's public key: its look, a visitor's conversation and messages, and their live
stream; and ``/widget.js`` itself.

Every request must come from one of the widget's allowed origins (its ``Origin`` header), and
only answers to those carry CORS headers, so a page elsewhere can neither use nor read them.
Errors answer in replyd's envelope."""

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import StreamingResponse
from fastapi.routing import APIRoute

from replyd.api.conversation_schemas import ConversationMessageIn
from replyd.api.deps import body_of
from replyd.api.envelope import error_response
from replyd.api.widget_schemas import MessagesOut, OpenIn, OpenOut, SentOut, WidgetMessage, WidgetOut
from replyd.api.widget_script import MAX_AGE_S, widget_script
from replyd.api.widget_stream import message_stream, resume_after
from replyd.app_state import State
from replyd.errors import ReplydError, Unauthenticated, ValidationFailed, problems_from_pydantic
from replyd.services.views import MAX_ID
from replyd.services.widgets import PageWidget

VISITOR_HEADER = "X-Replyd-Visitor"
ORIGIN_STATE = "widget_origin"
"""Key in ``request.state`` of the allowed origin a request came from: its answer gets CORS headers."""
CORS_HEADERS = {
    "Access-Control-Expose-Headers": "Retry-After, X-RateLimit-Limit, X-RateLimit-Remaining, X-RateLimit-Reset",
    "Vary": "Origin",
}
PREFLIGHT_HEADERS = {
    "Access-Control-Allow-Methods": "GET, POST",
    "Access-Control-Allow-Headers": f"Content-Type, {VISITOR_HEADER}, Last-Event-ID",
    "Access-Control-Max-Age": "600",
}


class WidgetRoute(APIRoute):
    """Answers errors in the envelope here, where the request's origin is known, so that an
    allowed page can read them (CORS headers go on every answer to an allowed origin)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handle = super().get_route_handler()

        async def handle_with_cors(request: Request) -> Response:
            try:
                response = await handle(request)
            except ReplydError as error:
                response = error_response(error, request)
            except RequestValidationError as invalid:
                response = error_response(ValidationFailed(problems_from_pydantic(invalid.errors())), request)
            origin = getattr(request.state, ORIGIN_STATE, None)
            if origin is not None:
                response.headers.update({"Access-Control-Allow-Origin": origin, **CORS_HEADERS})
            return response

        return handle_with_cors


router = APIRouter(route_class=WidgetRoute, include_in_schema=False)
"""Outside the API's document, like the channels' inbound routes: browsers call these, and
docs/widget.md describes them."""


async def page_widget(key: str, request: Request, state: State) -> PageWidget:
    origin = request.headers.get("origin")
    page = await state.widgets.for_page(key, origin)
    setattr(request.state, ORIGIN_STATE, origin)
    return page


Page = Annotated[PageWidget, Depends(page_widget)]


async def visitor_of(request: Request, page: Page) -> str:
    """The visitor's customer identifier, from the id in the header (or, for EventSource, which
    sends no headers of its own, the query)."""
    token = request.headers.get(VISITOR_HEADER) or request.query_params.get("visitor")
    if not token:
        raise Unauthenticated(f"Send the visitor id replyd gave in the header {VISITOR_HEADER}.")
    return page.visitor_of(token)


Visitor = Annotated[str, Depends(visitor_of)]


def address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.get("/widget.js")
async def script(request: Request) -> Response:
    served = widget_script()
    headers = {"ETag": served.etag, "Cache-Control": f"public, max-age={MAX_AGE_S}", "Vary": "Accept-Encoding"}
    if request.headers.get("if-none-match") == served.etag:
        return Response(status_code=304, headers=headers)
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
        return Response(served.gzipped, media_type="text/javascript", headers=headers)
    return Response(served.body, media_type="text/javascript", headers=headers)


@router.options("/widget/{key}/{rest:path}")
async def preflight(_: Page) -> Response:
    return Response(status_code=204, headers=PREFLIGHT_HEADERS)


@router.get("/widget/{key}/settings")
async def widget_settings(page: Page) -> WidgetOut:
    """The widget's look, with its words."""
    return WidgetOut(widget=page.widget.config.public())


@router.post("/widget/{key}/conversations")
async def open_conversation(
    request: Request, page: Page, state: State, body: Annotated[OpenIn, Depends(body_of(OpenIn))]
) -> OpenOut:
    """A visitor's conversation: a returning visitor's, a signed-in user's, or a new one."""
    if body.user_id is not None and body.user_hash is not None:
        identifier: str | None = page.identified(body.user_id, body.user_hash)
    else:
        identifier = page.visitor_of(body.visitor) if body.visitor else None
    view = await state.widgets.open(page, identifier, address(request))
    customer = view.conversation.customer_identifier
    assert customer is not None  # a widget's conversations always have their visitor
    return OpenOut(
        visitor=page.visitor_token(customer),
        conversation_id=view.conversation.id,
        messages=[WidgetMessage.of(m) for m in view.messages],
    )


@router.get("/widget/{key}/conversations/{conversation_id}/messages")
async def history(conversation_id: str, page: Page, visitor: Visitor, state: State) -> MessagesOut:
    messages = await state.widgets.history(page, visitor, conversation_id)
    return MessagesOut(messages=[WidgetMessage.of(m) for m in messages])


@router.post("/widget/{key}/conversations/{conversation_id}/messages")
async def send(
    conversation_id: str,
    request: Request,
    page: Page,
    visitor: Visitor,
    state: State,
    body: Annotated[ConversationMessageIn, Depends(body_of(ConversationMessageIn))],
) -> SentOut:
    """A visitor's message, and the AI's answer (none while a human has taken over)."""
    result = await state.widgets.send(page, visitor, conversation_id, body.message, address(request))
    return SentOut(reply=result.reply, ai_disabled=result.ai_disabled)


@router.get("/widget/{key}/conversations/{conversation_id}/events")
async def events(
    conversation_id: str,
    request: Request,
    page: Page,
    visitor: Visitor,
    state: State,
    after: Annotated[int, Query(ge=0, le=MAX_ID)] = 0,
) -> StreamingResponse:
    """New messages, whether the AI or a human agent is typing, live, after ``after`` (the last
    message id the page has) or the Last-Event-ID of a reconnecting browser."""
    await state.widgets.check_visitor(page, visitor, conversation_id)
    after = resume_after(request, after)
    stream = message_stream(request, state.widgets, state.notices, state.settings.live_poll_s, conversation_id, after)
    return StreamingResponse(
        stream, media_type="text/event-stream", headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    )
