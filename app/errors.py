"""One envelope for every response, and the mapping of every failure onto it."""

import logging
from typing import Any, Generic, TypeVar

import msgspec
from litestar import MediaType, Request, Response
from litestar.exceptions import (
    HTTPException,
    InternalServerException,
    NotFoundException,
    ValidationException,
)
from litestar.openapi.datastructures import ResponseSpec
from litestar.status_codes import HTTP_500_INTERNAL_SERVER_ERROR

from app.layers.ratelimit import RateLimited
from domain.errors import (
    Conflict,
    DomainError,
    Forbidden,
    InvalidInput,
    NotFound,
    Unauthenticated,
    Unavailable,
    UnsupportedMediaType,
)
from infra.db import postgres_unreachable

log = logging.getLogger(__name__)
TOO_DEEP = "The request is nested deeper than any request this API takes"
CLIENT_GONE = "client disconnected prematurely"  # Litestar's words when the body stops short
T = TypeVar("T")

STATUS_OF: tuple[tuple[type[DomainError], int], ...] = (
    (UnsupportedMediaType, 415),
    (InvalidInput, 400),
    (Unauthenticated, 401),
    (Forbidden, 403),
    (NotFound, 404),
    (Conflict, 409),
    (Unavailable, 503),
)
TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    408: "Request timeout",
    409: "Conflict",
    413: "Request body too large",
    415: "Unsupported media type",
    429: "Too many requests",
    500: "Internal server error",
    503: "Service unavailable",
}


class Envelope(msgspec.Struct):
    """The shape of every response; ``code`` always equals the HTTP status."""

    message: str
    status: bool
    code: int
    errorMessage: str = ""


class DataEnvelope(Envelope, Generic[T]):
    data: T | None = None


# What every authenticated route can answer, whatever it does: no or a bad token (401), a
# scope or role that does not allow it (403), the token over its rate limit (429, with
# Retry-After), an internal error (500), and Postgres unreachable while the token is looked up
# (503: a token not in the process's cache is read from Postgres).
AUTHENTICATED_ROUTE_ERRORS = (401, 403, 429, 500, 503)


def error_responses(*codes: int) -> dict[int, ResponseSpec]:
    """Document the error envelopes an authenticated route can answer with: ``codes`` (400 for
    any route with parameters or a body, 413 for one with a body, 404, 409, 415...) plus
    :data:`AUTHENTICATED_ROUTE_ERRORS`, and 408 with 413 (a body that stops arriving, see
    ``app.layers.body_timeout``). Every one of them is the :class:`Envelope`."""
    body = (408,) if 413 in codes else ()
    every = sorted({*codes, *body, *AUTHENTICATED_ROUTE_ERRORS})
    return {
        code: ResponseSpec(
            # no generated example: it would be a live Envelope in the schema (not JSON), and
            # whichever route registers the component first decides whether it has one
            data_container=Envelope,
            description=TITLES[code],
            generate_examples=False,
        )
        for code in every
    }


def ok(data: T, message: str = "OK", code: int = 200) -> DataEnvelope[T]:
    return DataEnvelope(message=message, status=True, code=code, data=data)


def done(message: str, code: int = 200) -> Envelope:
    return Envelope(message=message, status=True, code=code)


def error_response(
    code: int, error_message: str, headers: dict[str, str] | None = None
) -> Response[Envelope]:
    body = Envelope(
        message=TITLES.get(code, "Error"), status=False, code=code, errorMessage=error_message
    )
    return Response(body, status_code=code, media_type=MediaType.JSON, headers=headers)


def no_file_named_with_nul(request: Request[Any, Any, Any]) -> None:
    """A static files router's ``before_request``: a path with a NUL names no file (404); the
    file system's ``embedded null byte`` would otherwise be a 500."""
    if "\x00" in request.scope["path"]:
        raise NotFoundException(f"No file {request.scope['path']!r}")


def handle_exception(request: Request[Any, Any, Any], exc: Exception) -> Response[Envelope]:
    if isinstance(exc, RateLimited):
        return error_response(429, exc.message, {"Retry-After": str(exc.retry_after_seconds)})
    if isinstance(exc, DomainError):
        for kind, code in STATUS_OF:
            if isinstance(exc, kind):
                return error_response(code, exc.message)
    if isinstance(exc, ValidationException):
        return error_response(400, _validation_message(exc))
    if isinstance(exc, HTTPException) and exc.status_code < HTTP_500_INTERNAL_SERVER_ERROR:
        return error_response(exc.status_code, _http_message(request, exc), exc.headers)
    if isinstance(exc, InternalServerException) and exc.detail == CLIENT_GONE:
        # nobody is left to read an answer; an everyday event under load, not a server fault
        log.info("client disconnected before sending its whole request: %s %s",
                 request.method, request.url.path)  # fmt: skip
        return error_response(400, "The client disconnected before sending its whole request")
    if isinstance(exc, RecursionError):  # a body nested past what a decoder goes through
        log.warning("too deeply nested input on %s %s", request.method, request.url.path)
        return error_response(400, TOO_DEEP)
    if postgres_unreachable(exc):
        log.warning("database unreachable on %s %s: %s", request.method, request.url.path, exc)
        return error_response(503, "The database is unreachable; retry shortly")
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "The server failed to handle the request; it has been logged")


def _validation_message(exc: ValidationException) -> str:
    problems = exc.extra if isinstance(exc.extra, list) else []
    parts = []
    for problem in problems:
        if isinstance(problem, dict):
            text = str(problem.get("message", "invalid value"))
            key = problem.get("key")
            if key and key != "data" and str(key) not in text:
                text = f"{key}: {text}"
            parts.append(text)
    return "; ".join(parts) or str(exc.detail) or "The request is not valid"


def _http_message(request: Request[Any, Any, Any], exc: HTTPException) -> str:
    code = exc.status_code
    if code == 404:
        return f"No route matches {request.method} {request.url.path}"
    if code == 405:
        return f"{request.method} is not allowed on {request.url.path}"
    if code == 413:
        return "The request body is larger than this server accepts"
    return str(exc.detail)
