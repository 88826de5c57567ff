"""What an operator should read when a command fails for a reason outside the program: Postgres
or Redis unreachable, a database that does not exist or was never migrated, a file that
cannot be read. One line each, with what to do; None for anything else (a bug: let it show)."""

from urllib.parse import urlsplit

import asyncpg
from redis import exceptions as redis_errors

from infra.settings import Settings


def _causes(exc: BaseException) -> list[BaseException]:
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or any(current is s for s in seen):
            continue
        seen.append(current)
        todo += [current.__cause__, current.__context__, getattr(current, "orig", None)]
    return seen


def _where(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port or ''}{parts.path}"


def failure_message(exc: BaseException, settings: Settings) -> str | None:
    database = _where(settings.database_url)
    for cause in _causes(exc):
        if isinstance(cause, asyncpg.InvalidCatalogNameError):
            return (
                f"the database {settings.database_name!r} does not exist at {database}: "
                f"create it (createdb {settings.database_name}) and run `dnc db upgrade`, or "
                "point DNC_DATABASE_URL at the right one"
            )
        if isinstance(cause, asyncpg.UndefinedTableError):
            return (
                f"the database at {database} has no tables yet: run `dnc db upgrade` "
                "(or check DNC_DATABASE_URL)"
            )
        if isinstance(cause, asyncpg.InvalidAuthorizationSpecificationError):
            return f"Postgres at {database} refused the user: check DNC_DATABASE_URL"
        if isinstance(cause, redis_errors.ConnectionError):
            return (
                f"Redis at {_where(settings.redis_url)} cannot be reached: is it running? "
                "(DNC_REDIS_URL)"
            )
        if isinstance(cause, FileNotFoundError | PermissionError | IsADirectoryError):
            return f"cannot read {cause.filename}: {cause.strerror}"
        if isinstance(cause, ConnectionError | TimeoutError | OSError):
            return f"Postgres at {database} cannot be reached: is it running? (DNC_DATABASE_URL)"
    return None
