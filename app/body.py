"""Strict JSON bodies. Litestar converts ``data`` leniently (``"true"`` becomes ``True``) and
keeps the last of two equal keys (``{"phoneNumbers": [listed], "phoneNumbers": [other]}``
checked only the other), so every body is first read here, strictly:

- bytes that are not UTF-8, and text that is not JSON, are a 400;
- a key that appears twice in one object is a 400;
- nesting deeper than the decoder goes (about a thousand levels; no real request comes close)
  is a 400;
- ``\\u0000`` is a 400 (no Postgres text can hold it);
- the value must convert to the route's type without Litestar's lenient coercions.
"""

import asyncio
import json
from typing import Any

import msgspec
from litestar import Request
from litestar.exceptions import SerializationException

from app.errors import TOO_DEEP
from app.query import first_repeated
from domain.errors import InvalidInput

LARGE_BODY = 64 * 1024


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
        await _read_strictly(request, body, field.annotation)
    except SerializationException as exc:
        raise InvalidInput(f"The request body is not valid JSON: {exc}") from exc
    except UnicodeDecodeError:
        raise InvalidInput("The request body is not UTF-8 text") from None
    except RecursionError:
        raise InvalidInput(TOO_DEEP) from None
    except msgspec.ValidationError as exc:
        raise InvalidInput(str(exc)) from exc


async def _read_strictly(request: Request[Any, Any, Any], body: bytes, annotation: Any) -> None:
    raw = await request.json()  # Litestar keeps it for the handler's ``data``
    large = len(body) > LARGE_BODY
    if large:  # each step takes milliseconds: other requests are answered in between
        await asyncio.sleep(0)
    refuse_duplicate_keys(body)
    if large:
        await asyncio.sleep(0)
    msgspec.convert(raw, annotation, strict=True)


def refuse_duplicate_keys(body: bytes) -> None:
    """:class:`InvalidInput` when one object of ``body`` (valid JSON) has a key twice."""
    json.loads(body, object_pairs_hook=_unique_keys)


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    value = dict(pairs)
    if len(value) != len(pairs):
        key = first_repeated(pairs)
        raise InvalidInput(f"The key {key!r} appears twice in one object of the body")
    return value
