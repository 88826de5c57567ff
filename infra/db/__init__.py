"""Postgres: models, repositories, the unit of work and the migrations."""

from collections.abc import Iterator

from asyncpg import PostgresConnectionError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError


def postgres_unreachable(exc: BaseException) -> bool:
    """Whether ``exc`` says Postgres could not be reached or went away: a refused or reset
    socket, SQLAlchemy's wrap of one, a connection cut between two statements of a transaction
    (a bare ``DBAPIError`` that SQLAlchemy marks as a disconnect), or, where asyncpg is used
    directly (COPY), its "connection does not exist", which the transaction's rollback on the
    dead connection hides behind an error of its own (so that one is looked for in the
    chain)."""
    if isinstance(exc, OSError | TimeoutError | OperationalError | InterfaceError):
        return True
    if isinstance(exc, DBAPIError):
        return exc.connection_invalidated
    return any(isinstance(link, PostgresConnectionError) for link in _chain(exc))


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and what it was raised from or while handling, as a traceback shows them."""
    link: BaseException | None = exc
    for _ in range(10):
        if link is None:
            return
        yield link
        link = link.__cause__ or (None if link.__suppress_context__ else link.__context__)
