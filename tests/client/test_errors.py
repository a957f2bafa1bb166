"""Like httpx's mapping test: every error code the server can send has its own client
exception, the client's tree mirrors the server's, and odd answers still map to something."""

import email.utils
import time

import httpx
import pytest

from replyd import errors
from replyd.client import (
    ERROR_CLASSES,
    FieldError,
    RateLimitedError,
    ReplydAPIError,
    ValidationFailedError,
)
from replyd.client import _errors as client_errors
from replyd.client._errors import error_from_response, parse_retry_after


def server_error_classes() -> list[type[errors.ReplydError]]:
    found = [errors.ReplydError]
    for cls in found:
        found.extend(cls.__subclasses__())
    return found


def test_every_server_error_code_has_its_own_client_exception() -> None:
    server_codes = {cls.error_code for cls in server_error_classes()}
    assert set(ERROR_CLASSES) == server_codes
    assert all(cls is not ReplydAPIError for cls in ERROR_CLASSES.values())
    assert len(set(ERROR_CLASSES.values())) == len(ERROR_CLASSES)


def test_the_client_tree_mirrors_the_server_tree() -> None:
    for cls in server_error_classes():
        for parent in cls.__bases__:
            if issubclass(parent, errors.ReplydError) and parent is not errors.ReplydError:
                assert issubclass(ERROR_CLASSES[cls.error_code], ERROR_CLASSES[parent.error_code]), cls


def test_the_tree_drawn_in_the_module_docstring_names_every_class() -> None:
    assert client_errors.__doc__ is not None
    for code, cls in ERROR_CLASSES.items():
        assert f"{cls.__name__} " in client_errors.__doc__ and code in client_errors.__doc__


def test_an_envelope_becomes_its_class_with_details() -> None:
    body = {
        "success": False,
        "error": "The request is invalid; check these fields: message.",
        "error_code": "VALIDATION_ERROR",
        "details": [{"field": "message", "message": "must not be blank"}],
    }
    error = error_from_response(httpx.Response(422, json=body))
    assert isinstance(error, ValidationFailedError)
    assert (error.status, error.error_code, error.message) == (422, "VALIDATION_ERROR", body["error"])
    assert error.details == [FieldError("message", "must not be blank")]
    assert str(error) == f"422 VALIDATION_ERROR: {body['error']}"


def test_a_rate_limit_carries_retry_after() -> None:
    body = {"success": False, "error": "Slow down.", "error_code": "RATE_LIMITED"}
    error = error_from_response(httpx.Response(429, json=body, headers={"Retry-After": "12"}))
    assert isinstance(error, RateLimitedError) and error.retry_after_s == 12


def test_an_unknown_code_maps_to_the_base_class() -> None:
    body = {"success": False, "error": "Teapot.", "error_code": "IM_A_TEAPOT", "status": False}
    error = error_from_response(httpx.Response(418, json=body))
    assert type(error) is ReplydAPIError and error.error_code == "IM_A_TEAPOT"


@pytest.mark.parametrize("content", [b"<html>Bad Gateway</html>", b"[1, 2]", b""])
def test_an_answer_without_an_envelope_maps_to_the_base_class_by_status(content: bytes) -> None:
    error = error_from_response(httpx.Response(502, content=content))
    assert type(error) is ReplydAPIError
    assert (error.status, error.error_code, error.message) == (502, "HTTP_502", "Bad Gateway")


def test_retry_after_is_read_as_seconds_or_as_a_date() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after("-5") == 0.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    in_a_minute = parse_retry_after(email.utils.formatdate(time.time() + 60, usegmt=True))
    assert in_a_minute is not None and 0 < in_a_minute <= 60
