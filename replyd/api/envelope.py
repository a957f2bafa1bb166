"""The one place errors become ``{"success": false, "error": ..., "error_code": ...}``."""

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.routing import APIRoute
from starlette.exceptions import HTTPException
from starlette.types import Message, Receive, Scope, Send

from replyd.api.middleware import HttpMiddleware
from replyd.errors import (
    MethodNotAllowed,
    NotFound,
    ReplydError,
    Unauthenticated,
    ValidationFailed,
    problems_from_pydantic,
)

log = logging.getLogger(__name__)


class StatusEnvelopeRoute(APIRoute):
    """The routes of a router made with ``APIRouter(route_class=StatusEnvelopeRoute)`` answer
    errors with Famulor's ``"status": false`` beside replyd's fields: Famulor's conversation
    endpoints, whose clients read ``status``."""

    with_status = True


def error_body(error: ReplydError, with_status: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {"success": False, "error": error.message, "error_code": error.error_code}
    if with_status:
        body["status"] = False
    if isinstance(error, ValidationFailed):
        body["details"] = [{"field": p.field, "message": p.message} for p in error.problems]
    return body


def error_response(error: ReplydError, request: Request | None = None) -> JSONResponse:
    headers = dict(error.headers)
    if error.retry_after_s is not None:
        headers["Retry-After"] = str(error.retry_after_s)
    if isinstance(error, Unauthenticated):
        headers["WWW-Authenticate"] = "Bearer"
    with_status = request is not None and isinstance(request.scope.get("route"), StatusEnvelopeRoute)
    return JSONResponse(error_body(error, with_status), status_code=error.status, headers=headers)


async def _on_replyd_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ReplydError)
    if exc.status >= 500:
        log.warning("request failed: %s %s", exc.error_code, exc.message, exc_info=exc.__cause__ or exc)
    return error_response(exc, request)


async def _on_http_error(_request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 405:
        return error_response(MethodNotAllowed("This path does not accept that method."))
    if exc.status_code == 404:
        return error_response(NotFound("There is nothing at this path; see /docs for the API."))
    error = ReplydError(str(exc.detail))
    return JSONResponse(
        {"success": False, "error": error.message, "error_code": f"HTTP_{exc.status_code}"}, status_code=exc.status_code
    )


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return error_response(ValidationFailed(problems_from_pydantic(exc.errors())), request)


async def _on_unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error", exc_info=exc)
    return error_response(ReplydError(), request)


class AnswerUnexpectedErrors(HttpMiddleware):
    """Answers an unexpected exception with the 500 envelope itself. Starlette's outermost
    ServerErrorMiddleware would answer too, but then re-raises, and uvicorn closes the
    connection after such an answer: the client's next request on it would fail as well."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        has_started = False

        async def send_noting_start(message: Message) -> None:
            nonlocal has_started
            has_started = has_started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, send_noting_start)
        except Exception as exc:
            if has_started:
                raise  # half an answer is out: only closing the connection can tell the client
            response = await _on_unexpected(Request(scope), exc)
            await response(scope, receive, send)


def install_error_handlers(app: FastAPI) -> None:
    """Call before adding other middleware: this adds the innermost one, so that the others
    (request log, rate-limit headers) see its 500 like any other answer."""
    app.add_middleware(AnswerUnexpectedErrors)
    app.add_exception_handler(ReplydError, _on_replyd_error)
    app.add_exception_handler(HTTPException, _on_http_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(Exception, _on_unexpected)  # for a failure in the other middleware
