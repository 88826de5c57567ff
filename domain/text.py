"""Free text from callers that Postgres is to store or compare."""

from domain.errors import InvalidInput


def storable(name: str, value: str | None) -> str | None:
    """``value`` unchanged, unless it holds a NUL character, which no Postgres text can:
    a 400 naming the field (JSON bodies are checked for ``\\u0000`` as a whole, in
    ``app.body``; this covers query and path parameters and other ways in)."""
    if value is not None and "\x00" in value:
        raise InvalidInput(f"{name} must not contain NUL characters (\\u0000)")
    return value
