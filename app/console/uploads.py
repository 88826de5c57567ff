"""The console's CSV import, for its page's script: the file is sent as the request body
(``text/csv``, with the session's CSRF token in ``X-CSRF-Token``), streamed to a spool file
as the API's import is, and imported by the same use case; a large one is queued, and the
page follows it here until it ends. JSON in the API's envelope, errors included."""

from typing import Any
from uuid import UUID

from litestar import Request, Response, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery

from app.console.session import CSRF_HEADER, Signed, require_csrf, require_own_origin
from app.deps import resources_of
from app.errors import DataEnvelope, ok
from app.routes.transfer import CSV_TYPES, MAX_IMPORT_BYTES, import_out, spool, spooled
from app.schemas.transfer import ImportOut
from domain.errors import NotFound, UnsupportedMediaType
from domain.usecases.transfer import get_import, import_list


@post("/import", status_code=200, request_max_body_size=MAX_IMPORT_BYTES)
async def import_csv(
    request: Request[Any, Any, Any],
    signed: NamedDependency[Signed],
    listId: FromQuery[str | None] = None,
) -> Response[DataEnvelope[ImportOut]]:
    require_own_origin(request)
    require_csrf(signed, request.headers.get(CSRF_HEADER))
    media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if media_type not in CSV_TYPES:
        raise UnsupportedMediaType("send the file with Content-Type: text/csv")
    resources = resources_of(request.app.state)
    with await spool(request.stream()) as file:
        async with resources.import_slot() as transfers:
            started = await import_list(
                resources.uow(),
                transfers,
                resources.queue,
                resources.mirror,
                signed.principal,
                spooled(file),
                listId,
            )
    out = import_out(started.report, started.job_id)
    if started.queued:
        return Response(ok(out, "Import queued", 202), status_code=202)
    return Response(ok(out, "Import finished"))


@get("/imports/{import_id:str}")
async def import_status(
    request: Request[Any, Any, Any],
    signed: NamedDependency[Signed],
    import_id: FromPath[str],
) -> DataEnvelope[ImportOut]:
    try:
        wanted = UUID(import_id)
    except ValueError:
        raise NotFound(f"No import {import_id!r}") from None
    transfers = resources_of(request.app.state).transfers()
    return ok(import_out(await get_import(transfers, signed.principal, wanted)))
