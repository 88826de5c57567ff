"""Strict JSON bodies. Litestar converts ``data`` leniently (``"true"`` becomes ``True``); the
contract wants a JSON boolean to be a boolean, so every body is first checked strictly."""

from typing import Any

import msgspec
from litestar import Request
from litestar.exceptions import SerializationException

from domain.errors import InvalidInput


async def require_strict_json(request: Request[Any, Any, Any]) -> None:
    field = request.route_handler.parsed_data_field
    if field is None:
        return
    body = await request.body()
    if not body:
        if field.is_optional:
            return
        raise InvalidInput("The request body must be a JSON object")
    if b"\\u0000" in body:
        raise InvalidInput("Text in the request body must not contain NUL characters (\\u0000)")
    try:
        raw = await request.json()
    except SerializationException as exc:
        raise InvalidInput(f"The request body is not valid JSON: {exc}") from exc
    try:
        msgspec.convert(raw, field.annotation, strict=True)
    except msgspec.ValidationError as exc:
        raise InvalidInput(str(exc)) from exc
