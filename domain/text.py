"""Free text from callers that Postgres is to store or compare."""

import re

from domain.errors import InvalidInput

# C0 controls (CR, LF and NUL among them), DEL, and the other characters that end a line
_NOT_ONE_LINE = re.compile("[\x00-\x1f\x7f\x85\u2028\u2029]")


def storable(name: str, value: str | None) -> str | None:
    """``value`` unchanged, unless it holds a NUL character, which no Postgres text can:
    a 400 naming the field (JSON bodies are checked for ``\\u0000`` as a whole, in
    ``app.body``; this covers query and path parameters and other ways in)."""
    if value is not None and "\x00" in value:
        raise InvalidInput(f"{name} must not contain NUL characters (\\u0000)")
    return value


def one_line(name: str, value: str | None) -> str | None:
    """``value`` unchanged, unless it holds a control character or a line break: a 400 naming
    the field. For the short texts that are shown on one line (types, reasons, names and
    email addresses): they reach mail headers and spreadsheet cells."""
    if value is not None and _NOT_ONE_LINE.search(value):
        raise InvalidInput(
            f"{name} must be one line of text, without control characters (such as CR, LF, "
            "tab or NUL)"
        )
    return value
