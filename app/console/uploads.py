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
from app.routes.transfer import MAX_IMPORT_BYTES, import_out, imported
from app.schemas.transfer import ImportOut
from domain.errors import NotFound
from domain.usecases.transfer import get_import


@post("/import", status_code=200, request_max_body_size=MAX_IMPORT_BYTES)
async def import_csv(
    request: Request[Any, Any, Any],
    signed: NamedDependency[Signed],
    listId: FromQuery[str | None] = None,
) -> Response[DataEnvelope[ImportOut]]:
    require_own_origin(request)
    require_csrf(signed, request.headers.get(CSRF_HEADER))
    resources = resources_of(request.app.state)
    return await imported(request, resources.uow(), signed.principal, listId)


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
