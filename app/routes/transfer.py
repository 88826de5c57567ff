"""CSV import and export of whole lists."""

import asyncio
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from litestar import Controller, Request, Response, get, post
from litestar.datastructures import State
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import OpenAPIMediaType, OpenAPIType, Operation, RequestBody, Schema
from litestar.params import FromPath, FromQuery
from litestar.response import Stream

from app.auth import authorize
from app.deps import resources_of
from app.errors import DataEnvelope, error_responses, ok
from app.schemas.transfer import ImportLineError, ImportOut
from domain.errors import NotFound, UnsupportedMediaType
from domain.model import ImportReport, Principal
from domain.usecases.transfer import INLINE_ROWS, export_list, get_import, import_list
from infra.db.uow import SqlUnitOfWork

MAX_IMPORT_BYTES = 2 * 1024**3
SPOOL_IN_MEMORY = 1 << 20  # a file larger than this is spooled to disk (TMPDIR)
SPOOL_CHUNK = 1 << 20
CSV_TYPES = ("text/csv", "application/csv", "text/plain")
CSV_EXAMPLE = (
    "phoneNumber,type,expiresAt\n+12125551234,customer_request,\n2125551235,,2030-01-01T00:00:00Z\n"
)


@dataclass
class CsvImportOperation(Operation):
    """The import's OpenAPI operation, with its CSV body: Litestar documents a body only for a
    ``data`` parameter, and the import streams the body itself instead (files of millions of
    rows are never held in memory)."""

    def __post_init__(self) -> None:
        csv = OpenAPIMediaType(schema=Schema(type=OpenAPIType.STRING), example=CSV_EXAMPLE)
        self.request_body = RequestBody(
            content={media_type: csv for media_type in CSV_TYPES},
            required=True,
            description="A header row naming phoneNumber and optionally type and expiresAt "
            "(createdAt, as an export has it, is ignored), then one number a row",
        )


Spool = tempfile.SpooledTemporaryFile[bytes]


async def spool(body: AsyncIterator[bytes]) -> Spool:
    """The whole body in a temporary file (in memory up to :data:`SPOOL_IN_MEMORY`), taken in
    before any database connection is: a slow or stalled upload holds a socket and a file,
    nothing anyone else needs. Litestar's stream stops it at the route's maximum size (413),
    and ``app.layers.body_timeout`` stops a body that stops arriving (408)."""
    file: Spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)
    try:
        buffered = bytearray()
        async for chunk in body:
            buffered += chunk
            if len(buffered) >= SPOOL_CHUNK:
                data, buffered = buffered, bytearray()
                await asyncio.to_thread(file.write, data)
        await asyncio.to_thread(file.write, buffered)
        file.seek(0)
    except BaseException:
        file.close()
        raise
    return file


async def spooled(file: Spool) -> AsyncIterator[bytes]:
    while chunk := await asyncio.to_thread(file.read, SPOOL_CHUNK):
        yield chunk


def import_out(report: ImportReport, job_id: str | None = None) -> ImportOut:
    return ImportOut(
        import_id=str(report.id),
        status=report.status,
        rows=report.rows,
        processed=report.processed,
        added=report.added,
        duplicate=report.duplicate,
        invalid=report.invalid,
        errors=[ImportLineError(e["line"], e["error"]) for e in report.errors],
        job_id=job_id,
        failure=report.failure,
    )


async def imported(
    request: Request[Any, Any, Any],
    uow: SqlUnitOfWork,
    principal: Principal,
    list_id: str | None,
) -> Response[DataEnvelope[ImportOut]]:
    """The request's CSV body imported into the list (the API's import and the console's):
    finished (200), or queued for the worker (202) when it is large."""
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in CSV_TYPES:
        raise UnsupportedMediaType("send the file with Content-Type: text/csv")
    resources = resources_of(request.app.state)
    with await spool(request.stream()) as file:
        async with resources.import_slot() as transfers:
            started = await import_list(
                uow,
                transfers,
                resources.queue,
                resources.mirror,
                principal,
                spooled(file),
                list_id,
            )
    out = import_out(started.report, started.job_id)
    if started.queued:
        return Response(ok(out, "Import queued", 202), status_code=202)
    return Response(ok(out, "Import finished"))


class TransferController(Controller):
    path = "/api/dnc"
    guards = (authorize,)
    tags = ("Managing the list",)

    @post(
        "/import",
        status_code=200,
        request_max_body_size=MAX_IMPORT_BYTES,
        summary="Import a CSV (phoneNumber[,type][,expiresAt]); large ones run in the background",
        operation_class=CsvImportOperation,
        responses={
            202: ResponseSpec(
                DataEnvelope[ImportOut],
                description=f"More than {INLINE_ROWS:,} rows: queued, with a jobId; follow it "
                "at GET /api/dnc/imports/{importId}",
            ),
            **error_responses(400, 413, 415, 503),
        },
    )
    async def import_csv(
        self,
        request: Request[Principal, str, State],
        uow: NamedDependency[SqlUnitOfWork],
        principal: NamedDependency[Principal],
        listId: FromQuery[str | None] = None,
    ) -> Response[DataEnvelope[ImportOut]]:
        return await imported(request, uow, principal, listId)

    @get(
        "/imports/{importId:str}",
        summary="How an import is doing, or how it ended",
        responses=error_responses(400, 404),
    )
    async def import_status(
        self, importId: FromPath[str], state: State, principal: NamedDependency[Principal]
    ) -> DataEnvelope[ImportOut]:
        try:
            import_id = UUID(importId)
        except ValueError:
            raise NotFound(f"No import {importId!r}") from None
        report = await get_import(resources_of(state).transfers(), principal, import_id)
        return ok(import_out(report))

    @get(
        "/export",
        summary="A whole list (listId; default: the org-wide list) as CSV "
        "(phoneNumber,type,expiresAt,createdAt), streamed",
        media_type="text/csv",
        responses=error_responses(400),
    )
    async def export(
        self,
        state: State,
        uow: NamedDependency[SqlUnitOfWork],
        principal: NamedDependency[Principal],
        listId: FromQuery[str | None] = None,
    ) -> Stream:
        rows = await export_list(uow, resources_of(state).transfers(), principal, listId)
        return Stream(
            rows,
            media_type="text/csv",
            headers={"Content-Disposition": 'attachment; filename="dnc-export.csv"'},
        )
