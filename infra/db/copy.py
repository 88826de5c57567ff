"""Postgres COPY in and out, for lists of millions of numbers; no rules here.

An import is staged first: the request body streams straight into a table of its own with
``COPY`` (line numbers from an identity column), so the file is never held in memory
(:mod:`infra.db.imports` then processes it). An export is ``COPY (SELECT …) TO STDOUT`` streamed
through a bounded queue, with formula cells neutralized.
"""

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from uuid import UUID, uuid4

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.errors import InvalidInput
from domain.imports import ESCAPE, ESCAPED_STARTS, header_columns
from domain.model import DEFAULT_LIST

STAGED = {
    "phoneNumber": "phone_raw",
    "type": "type_raw",
    "expiresAt": "expires_raw",
    "createdAt": "created_raw",
}
_HEADER_END = re.compile(rb"\r\n|\r|\n")


def staging_table(import_id: UUID) -> str:
    return f"dnc_import_{import_id.hex}"


async def split_header(body: AsyncIterator[bytes]) -> tuple[str, AsyncIterator[bytes]]:
    """The CSV header line, and the rest of the body as it keeps streaming in."""
    buffered = b""
    async for chunk in body:
        buffered += chunk
        if b"\n" in buffered or b"\r" in buffered[:-1] or len(buffered) > 64 * 1024:
            break
    found = _HEADER_END.search(buffered)  # \n, \r\n, or a bare \r (old Mac files)
    end = (found.start(), found.end()) if found else (len(buffered), len(buffered))
    header, rest = buffered[: end[0]], buffered[end[1] :]

    async def remainder() -> AsyncIterator[bytes]:
        if rest:
            yield rest
        async for chunk in body:
            yield chunk

    try:
        return header.decode("utf-8"), remainder()
    except UnicodeDecodeError:
        raise InvalidInput("the CSV file must be UTF-8 text") from None


_MARKER = b"\\."
_BREAKS = b"\r\n"
_CR = ord("\r")
_HELD = 4  # bytes held back so that a marker split between chunks is still seen whole


async def refuse_end_marker(rows: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    """The rows as they stream in, refusing a line that is just ``\\.`` (ended by ``\\n``,
    ``\\r\\n``, a bare ``\\r`` or the end of the data): COPY reads it as the end of the data
    and would drop every row after it without a word. Holds back a few bytes at a time."""
    held, lines, first = b"", 2, True  # line 1 is the header
    async for chunk in rows:
        data = held + chunk
        _refuse(data, first, len(data) - 2, lines)
        cut = max(0, len(data) - _HELD)
        if cut and data[cut - 1] == _CR:  # keep a \r\n together, to count it once
            cut -= 1
        send, held = data[:cut], data[cut:]
        lines += _line_breaks(send)
        if send:
            first = False
            yield send
    data = held
    if data:
        _refuse(data + b"\n", first, len(data), lines)
        yield data


def _refuse(data: bytes, first: bool, limit: int, lines: int) -> None:
    """Raise on a marker starting before ``limit`` whose line starts and ends around it."""
    at = data.find(_MARKER)
    while 0 <= at < limit:
        starts = (at == 0 and first) or (at > 0 and data[at - 1] in _BREAKS)
        if starts and at + 2 < len(data) and data[at + 2] in _BREAKS:
            line = lines + _line_breaks(data[:at])
            raise InvalidInput(
                f"line {line} is '\\.', which ends the data for Postgres's COPY; quote it or "
                "remove it (nothing was imported)"
            )
        at = data.find(_MARKER, at + 1)


def _line_breaks(data: bytes) -> int:
    return data.count(b"\n") + data.count(b"\r") - data.count(b"\r\n")


async def driver(connection: Any) -> asyncpg.Connection:
    raw = await connection.get_raw_connection()
    driver: asyncpg.Connection = raw.driver_connection
    return driver


@asynccontextmanager
async def transaction(engine: AsyncEngine) -> AsyncIterator[asyncpg.Connection]:
    """A pooled connection, used through asyncpg directly (COPY, cursors), in a transaction."""
    async with engine.connect() as connection:
        db = await driver(connection)
        async with db.transaction():
            yield db


async def stage_import(
    engine: AsyncEngine,
    organization_id: UUID,
    user_id: UUID | None,
    body: AsyncIterator[bytes],
    list_id: str = DEFAULT_LIST,
) -> tuple[UUID, int]:
    """COPY a CSV body into its own staging table, for the list ``list_id``; the import's id
    and its row count."""
    header, rows = await split_header(body)
    columns = [STAGED[name] for name in header_columns(header)]
    import_id = uuid4()
    table = staging_table(import_id)
    async with transaction(engine) as db:
        await db.execute(
            f"CREATE UNLOGGED TABLE {table} (line bigint GENERATED ALWAYS AS IDENTITY "
            "(START WITH 2), phone_raw text, type_raw text, expires_raw text, created_raw text)"
        )
        try:
            status = await db.copy_to_table(
                table, source=refuse_end_marker(rows), columns=columns, format="csv"
            )
        except (
            asyncpg.DataError,
            asyncpg.PostgresSyntaxError,
            asyncpg.BadCopyFileFormatError,
        ) as exc:
            raise InvalidInput(f"the CSV file could not be read: {_copy_error(exc)}") from exc
        count = int(status.split()[-1])
        await db.execute(
            "INSERT INTO imports (id, organization_id, user_id, status, rows, list_id) "
            "VALUES ($1, $2, $3, 'queued', $4, $5)",
            import_id, organization_id, user_id, count, list_id,
        )  # fmt: skip
    return import_id, count


def _copy_error(exc: asyncpg.PostgresError) -> str:
    """COPY's message and file line (its own count starts after the header); no table names."""
    found = re.search(r"line (\d+)", str(exc.context or ""))
    return f"line {int(found.group(1)) + 1}: {exc}" if found else str(exc)


EXPORT_QUERY = """
SELECT phone_number AS "phoneNumber",
       CASE WHEN left(type, 1) = ANY($2::text[]) THEN $3 || type ELSE type END AS type,
       to_char(expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS "expiresAt",
       to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS "createdAt"
FROM dnc_entries
WHERE organization_id = $1 AND list_id = $4 AND removed_at IS NULL
ORDER BY created_at, id
"""


async def export_csv(
    engine: AsyncEngine, organization_id: UUID, list_id: str = DEFAULT_LIST
) -> AsyncIterator[bytes]:
    """One of the organization's lists as CSV, streamed with constant memory. A ``type`` a
    spreadsheet would run as a formula goes out neutralized
    (:func:`domain.imports.neutralized`, the same rule in SQL), and every ``type`` is quoted;
    an import takes the prefix back off."""
    queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=16)

    async def sink(chunk: bytes | bytearray | memoryview) -> None:
        await queue.put(bytes(chunk))

    async def copy() -> None:
        try:
            async with engine.connect() as connection:
                db = await driver(connection)
                await db.copy_from_query(
                    EXPORT_QUERY,
                    organization_id,
                    list(ESCAPED_STARTS),
                    ESCAPE,
                    list_id,
                    output=sink,
                    format="csv",
                    header=True,
                    force_quote=["type"],  # OWASP: the neutralized cell quoted too
                )
        finally:
            await queue.put(None)

    task = asyncio.create_task(copy())
    try:
        while (chunk := await queue.get()) is not None:
            yield chunk
        await task
    finally:
        if not task.done():
            task.cancel()
