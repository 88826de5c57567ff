"""The DNC list endpoints: the vendor's add and enable-disable, an entry, the settings."""

from datetime import datetime
from uuid import UUID

from litestar import Controller, delete, get, post
from litestar.di import NamedDependency
from litestar.params import FromPath, FromQuery, JSONBody

from app.auth import ADMIN_ONLY, authorize
from app.errors import DataEnvelope, Envelope, done, error_responses, ok
from app.schemas.dnc import (
    AddRequest,
    EnableDisableRequest,
    EntryRead,
    HistoryRead,
    PastEntryRead,
    RemoveRequest,
    ReportRead,
    SettingsRead,
)
from app.schemas.fields import trimmed
from domain.errors import InvalidInput, NotFound
from domain.model import AddNumber, DncEntry, Principal
from domain.usecases.browse import enforcement_report, entry_history, get_entry, get_settings
from domain.usecases.entries import add_number, remove_entry, remove_number, set_dnc_enabled
from infra.db.uow import SqlUnitOfWork
from infra.redis.mirror import RedisMirror
from infra.redis.queue import ArqJobQueue


def require_non_empty(**fields: str) -> None:
    empty = [name for name, value in fields.items() if not value.strip()]
    if empty:
        raise InvalidInput(f"{', '.join(empty)} must not be empty")


def removed(entry: DncEntry) -> DataEnvelope[EntryRead]:
    """The answer of both ways to take a number off the list."""
    return ok(EntryRead.of(entry), "Phone number removed from DNC successfully")


class DncController(Controller):
    path = "/api/dnc"
    guards = (authorize,)
    tags = ("DNC list",)

    @post(
        "/add",
        status_code=200,
        summary="Add a number from a call to the DNC list",
        responses=error_responses(400, 404, 413),
    )
    async def add(
        self,
        data: JSONBody[AddRequest],
        uow: NamedDependency[SqlUnitOfWork],
        mirror: NamedDependency[RedisMirror],
        queue: NamedDependency[ArqJobQueue],
        principal: NamedDependency[Principal],
    ) -> Envelope:
        require_non_empty(
            phoneNumber=data.phone_number, batchId=data.batch_id, requestUUID=data.request_uuid
        )
        command = AddNumber(
            phone_number=data.phone_number,
            batch_id=data.batch_id.strip(),
            request_uuid=data.request_uuid.strip(),
            type=trimmed(data.type),
            expires_at=data.expires_at,
            list_id=data.list_id,
        )
        await add_number(uow, mirror, queue, principal, command)
        return done("Phone number added to DNC successfully")

    @post(
        "/enable-disable",
        status_code=200,
        opt={ADMIN_ONLY: True},
        summary="Switch DNC checks on or off for the organization (admins)",
        responses=error_responses(400, 404, 413),
    )
    async def enable_disable(
        self,
        data: JSONBody[EnableDisableRequest],
        uow: NamedDependency[SqlUnitOfWork],
        mirror: NamedDependency[RedisMirror],
        principal: NamedDependency[Principal],
    ) -> Envelope:
        await set_dnc_enabled(uow, mirror, principal, data.enable)
        return done("DNC setting updated successfully")

    @get(
        "/entries/{phoneNumber:str}",
        summary="One listed number with its evidence (on the list listId; default: the "
        "org-wide list)",
        responses=error_responses(400, 404),
    )
    async def entry(
        self,
        phoneNumber: FromPath[str],
        uow: NamedDependency[SqlUnitOfWork],
        principal: NamedDependency[Principal],
        listId: FromQuery[str | None] = None,
    ) -> DataEnvelope[EntryRead]:
        return ok(EntryRead.of(await get_entry(uow, principal, phoneNumber, listId)))

    @get(
        "/entries/{phoneNumber:str}/history",
        summary="Every entry the number has had, listed and removed, with its evidence (on "
        "the list listId; default: every list)",
        responses=error_responses(400, 404),
    )
    async def history(
        self,
        phoneNumber: FromPath[str],
        uow: NamedDependency[SqlUnitOfWork],
        principal: NamedDependency[Principal],
        listId: FromQuery[str | None] = None,
    ) -> DataEnvelope[HistoryRead]:
        number, past = await entry_history(uow, principal, phoneNumber, listId)
        return ok(HistoryRead(number, [PastEntryRead.of_past(p) for p in past]))

    @get(
        "/report",
        summary="Do-not-call requests made on calls in a period, and how soon each was "
        "enforced (since, until: ISO 8601 with a timezone; default the last 30 days)",
        responses=error_responses(400),
    )
    async def report(
        self,
        uow: NamedDependency[SqlUnitOfWork],
        principal: NamedDependency[Principal],
        since: FromQuery[datetime | None] = None,
        until: FromQuery[datetime | None] = None,
    ) -> DataEnvelope[ReportRead]:
        return ok(ReportRead.of(await enforcement_report(uow, principal, since, until)))

    @get(
        "/settings",
        summary="Whether DNC is enabled, and how many numbers are listed",
        responses=error_responses(404),
    )
    async def settings(
        self, uow: NamedDependency[SqlUnitOfWork], principal: NamedDependency[Principal]
    ) -> DataEnvelope[SettingsRead]:
        enabled, count = await get_settings(uow, principal)
        return ok(SettingsRead(enabled=enabled, count=count))

    @post(
        "/remove",
        status_code=200,
        summary="Take a number off the list (kept as an audited tombstone)",
        responses=error_responses(400, 404, 413),
    )
    async def remove(
        self,
        data: JSONBody[RemoveRequest],
        uow: NamedDependency[SqlUnitOfWork],
        mirror: NamedDependency[RedisMirror],
        principal: NamedDependency[Principal],
    ) -> DataEnvelope[EntryRead]:
        entry = await remove_number(
            uow,
            mirror,
            principal,
            data.phone_number,
            trimmed(data.reason),
            data.list_id,
        )
        return removed(entry)

    @delete(
        "/delete/{id:str}",
        status_code=200,
        summary="Take an entry off the list by its id (kept as an audited tombstone)",
        responses=error_responses(400, 404),
    )
    async def delete_entry(
        self,
        id: FromPath[str],
        uow: NamedDependency[SqlUnitOfWork],
        mirror: NamedDependency[RedisMirror],
        principal: NamedDependency[Principal],
        reason: FromQuery[str | None] = None,
    ) -> DataEnvelope[EntryRead]:
        try:
            entry_id = UUID(id)
        except ValueError:
            raise NotFound(f"No DNC entry {id!r} on the list") from None
        return removed(await remove_entry(uow, mirror, principal, entry_id, trimmed(reason)))
