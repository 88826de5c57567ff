"""Query strings as this API reads them, the same on every route and on the fast check path.

- A ``+`` is a plus. Form encoding reads it as a space, which turned ``+6592345678`` (a
  Singapore number) into `` 6592345678`` and then into the NANP number 16592345678: a listed
  number answered as callable. Nothing in this API's queries is form-encoded text, and phone
  numbers and times with offsets (``+01:00``) are where a raw ``+`` turns up, so it keeps its
  meaning everywhere.
- Except on the console's pages (``/console/``): their queries are what a browser's GET form
  sends, form-encoded, a space as ``+`` and a typed ``+`` as ``%2B``; read as a plus, a search
  for "customer request" looked for "customer+request" and found nothing.
- Bytes that are not UTF-8, raw or percent-encoded (``?search=%ff``), are a 400: they were
  read as U+FFFD and searched for, or compared, as if that had been sent.
- Every parameter appears at most once. A repeated ``phoneNumber`` was answered for its last
  value only; now any repeated parameter is a 400.
"""

from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qsl

from domain.errors import InvalidInput


def literal_plus(query_string: bytes) -> bytes:
    return query_string.replace(b"+", b"%2B")


def query_pairs(query_string: bytes) -> list[tuple[str, str]]:
    """The decoded parameters, in order; :class:`InvalidInput` when one appears twice."""
    try:
        text = literal_plus(query_string).decode("utf-8")
        pairs = parse_qsl(text, keep_blank_values=True, errors="strict")
    except UnicodeDecodeError:
        raise InvalidInput(
            "the query string is not UTF-8 text; percent-encode the UTF-8 bytes of each value"
        ) from None
    key = first_repeated(pairs)
    if key is not None:
        raise InvalidInput(f"the query parameter {key!r} appears more than once; send it once")
    return pairs


def first_repeated(pairs: Sequence[tuple[str, object]]) -> str | None:
    """The first key of ``pairs`` that appears a second time, if any."""
    seen: set[str] = set()
    for key, _ in pairs:
        if key in seen:
            return key
        seen.add(key)
    return None


CONSOLE_PAGES = "/console/"


class StrictQuery:
    """Litestar middleware: refuses repeated parameters, and makes every ``+`` a plus before
    Litestar parses the query (but on the console's pages, which browsers' forms fill)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        query_string = scope.get("query_string")
        if query_string:
            query_pairs(query_string)
            if not str(scope.get("path", "")).startswith(CONSOLE_PAGES):
                scope["query_string"] = literal_plus(query_string)
        await self.app(scope, receive, send)
