"""CSRF protection for every console form, reading forms within the body size limit, and
putting the services' objections to a form beside its fields.

Signed-in forms carry the session's CSRF secret (a synchronizer token, kept server-side with
the session). The sign-in form has no session yet, so it uses a double-submit cookie: a
random value in an HttpOnly, SameSite=Strict cookie that the form must repeat. Either way a
page of another site cannot produce the value, so its posts are refused with 403."""

import hmac
import secrets
from collections.abc import Collection
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request, Response
from starlette.datastructures import UploadFile

from replyd.app_state import State
from replyd.console.sessions import COOKIE_PATH, SignedIn, is_https
from replyd.console.web import BadForm, CsrfRefused
from replyd.errors import FieldProblem, ValidationFailed

FIELD = "csrf_token"
SIGN_IN_COOKIE = "replyd_console_signin"
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")


@dataclass(frozen=True)
class Form:
    """A posted form's fields as text (a repeated field keeps its last value)."""

    fields: dict[str, str]

    def text(self, name: str) -> str:
        return self.fields.get(name, "")

    def has(self, name: str) -> bool:
        return name in self.fields


async def read_form(request: Request, max_bytes: int) -> Form:
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type not in FORM_TYPES:
        return Form({})  # no fields, so no CSRF token either: refused with 403
    declared = request.headers.get("content-length", "")
    if not declared.isdigit():
        raise BadForm("The form must say how long it is (Content-Length).", 411)
    if int(declared) > max_bytes:
        raise BadForm(f"The form is larger than {max_bytes} bytes.", 413)
    fields: dict[str, str] = {}
    async with request.form(max_files=0, max_fields=100) as form:
        for name, value in form.multi_items():
            if isinstance(value, UploadFile):
                raise BadForm("This form takes no files.")
            if "\x00" in value or "\x00" in name:
                raise BadForm("The form holds a NUL character, which cannot be stored.")
            fields[name] = value.replace("\r\n", "\n")  # browsers send textarea lines with CRLF
    return Form(fields)


def message_problem(failed: ValidationFailed, what: str = "message") -> str:
    """The services' objection to a message (a note, a label) typed into the console, as a sentence."""
    return " ".join(f"The {what} {problem.message}." for problem in failed.problems)


def problems_by_field(problems: list[FieldProblem], fields: Collection[str]) -> dict[str, list[str]]:
    """Each problem beside the form field it is about: ``functions.0.url: ...`` is shown under
    Functions as ``0.url: ...``. A problem of no field in ``fields`` goes above the form
    (``form``)."""
    shown: dict[str, list[str]] = {}
    for problem in problems:
        head, _, rest = problem.field.partition(".")
        field = head if head in fields else "form"
        shown.setdefault(field, []).append(
            f"{rest}: {problem.message}" if rest and field != "form" else problem.message
        )
    return shown


def check_token(sent: str, expected: str) -> None:
    if not sent or not expected or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise CsrfRefused()


async def checked_form(request: Request, operator: SignedIn, state: State) -> Form:
    """The posted form, once its CSRF token matched the session's."""
    form = await read_form(request, state.settings.max_body_bytes)
    check_token(form.text(FIELD), operator.csrf_token)
    return form


CheckedForm = Annotated[Form, Depends(checked_form)]


def sign_in_token(request: Request) -> str:
    """The double-submit value for the sign-in form: the browser's cookie, or a new one."""
    current = request.cookies.get(SIGN_IN_COOKIE, "")
    return current if 20 <= len(current) <= 100 else secrets.token_urlsafe(24)


def set_sign_in_cookie(response: Response, request: Request, value: str) -> None:
    response.set_cookie(
        SIGN_IN_COOKIE,
        value,
        max_age=3600,
        path=COOKIE_PATH,
        secure=is_https(request),
        httponly=True,
        samesite="strict",
    )


async def checked_sign_in_form(request: Request, state: State) -> Form:
    form = await read_form(request, state.settings.max_body_bytes)
    check_token(form.text(FIELD), request.cookies.get(SIGN_IN_COOKIE, ""))
    return form


CheckedSignInForm = Annotated[Form, Depends(checked_sign_in_form)]
