"""The audit log: what was done to an organization's list, by whom."""

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from sqlalchemy import (
    ARRAY,
    bindparam,
    func,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import UUID as PG_UUID
from sqlalchemy.sql.elements import ColumnElement

from domain.model import (
    DEFAULT_LIST,
    AuditEvent,
    AuditQuery,
    AuditRecord,
)
from infra.db.mappers import audit_record_from_row
from infra.db.models import (
    AuditRow,
)
from infra.db.repositories.base import Repository


class SqlAuditLog(Repository):
    async def page(
        self,
        organization_id: UUID,
        query: AuditQuery,
        after_id: int | None,
        offset: int,
        limit: int,
    ) -> list[AuditRecord]:
        statement = (
            select(AuditRow)
            .where(*_audit_filters(organization_id, query))
            .order_by(AuditRow.id.desc())
            .limit(limit)
        )
        if after_id is not None:
            statement = statement.where(AuditRow.id < after_id)
        elif offset:
            statement = statement.offset(offset)
        return [audit_record_from_row(r) for r in await self.session.scalars(statement)]

    async def count(self, organization_id: UUID, query: AuditQuery) -> int:
        return (
            await self.session.scalar(
                select(func.count()).where(*_audit_filters(organization_id, query))
            )
            or 0
        )

    async def record(self, event: AuditEvent) -> None:
        self.session.add(
            AuditRow(
                organization_id=event.organization_id,
                actor_user_id=event.actor_user_id,
                action=event.action,
                phone_number=event.phone_number,
                entity_id=event.entity_id,
                before=event.before,
                after=event.after,
                list_id=event.list_id,
            )
        )
        await self.session.flush()

    async def record_added(
        self,
        organization_id: UUID,
        actor_user_id: UUID | None,
        entry_ids: Sequence[UUID],
        details: dict[str, Any],
    ) -> None:
        if entry_ids:
            await self.session.execute(
                _AUDIT_ADDED,
                {
                    "org": organization_id,
                    "actor": actor_user_id,
                    "ids": list(entry_ids),
                    "details": details,
                },
            )

    async def record_removed(
        self,
        organization_id: UUID,
        actor_user_id: UUID | None,
        action: str,
        entry_ids: Sequence[UUID],
        details: dict[str, Any],
    ) -> None:
        if entry_ids:
            await self.session.execute(
                _AUDIT_REMOVED,
                {
                    "org": organization_id,
                    "actor": actor_user_id,
                    "action": action,
                    "ids": list(entry_ids),
                    "details": details or None,
                },
            )


def audit_added_sql(entries: str, actor: str, details: str) -> str:
    """One ``dnc.add`` audit row per entry of ``entries`` (``dnc_entries``, or a query with
    its columns, aliased ``e``), by ``actor``, with ``details`` added to each row's ``after``
    (SQL expressions both): the one shape of an added entry's audit row, for the bulk add and
    the import (``infra.db.imports``)."""
    return (
        "INSERT INTO audit_log (organization_id, actor_user_id, action, phone_number, "  # noqa: S608
        f"entity_id, list_id, after) SELECT e.organization_id, {actor}, 'dnc.add', "
        "e.phone_number, e.id::text, e.list_id, jsonb_build_object('type', e.type, 'source', "
        """e.source, 'expiresAt', to_char(e.expires_at AT TIME ZONE 'UTC', """
        f"""'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')) || {details} FROM {entries} e"""
    )


# One ``dnc.add`` row per listed entry, built from the entries themselves in one statement.
_AUDIT_ADDED = text(
    audit_added_sql("dnc_entries", ":actor", ":details")
    + " WHERE e.organization_id = :org AND e.id = ANY(:ids) ORDER BY e.phone_number"
).bindparams(
    bindparam("actor", type_=PG_UUID(as_uuid=True)),
    bindparam("ids", type_=ARRAY(PG_UUID(as_uuid=True))),
    bindparam("details", type_=JSONB()),
)

# One row of :action per entry taken off its list, likewise.
_AUDIT_REMOVED = text(
    "INSERT INTO audit_log (organization_id, actor_user_id, action, phone_number, entity_id, "
    "list_id, before, after) "
    "SELECT e.organization_id, :actor, :action, e.phone_number, e.id::text, e.list_id, "
    "jsonb_build_object('type', e.type, 'expiresAt', "
    """to_char(e.expires_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')), :details """
    "FROM dnc_entries e WHERE e.organization_id = :org AND e.id = ANY(:ids) "
    "ORDER BY e.phone_number"
).bindparams(
    bindparam("actor", type_=PG_UUID(as_uuid=True)),
    bindparam("ids", type_=ARRAY(PG_UUID(as_uuid=True))),
    bindparam("details", type_=JSONB(none_as_null=True)),
)


def _audit_filters(organization_id: UUID, query: AuditQuery) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = [AuditRow.organization_id == organization_id]
    if query.list_id == DEFAULT_LIST:  # the org-wide list's events, and the organization's
        conditions.append(AuditRow.list_id.is_(None) | (AuditRow.list_id == DEFAULT_LIST))
    else:
        conditions.append(AuditRow.list_id == query.list_id)
    if query.phone_number:
        conditions.append(AuditRow.phone_number == query.phone_number)
    if query.action:
        conditions.append(AuditRow.action == query.action)
    if query.actor:
        conditions.append(AuditRow.actor_user_id == query.actor)
    if query.since:
        conditions.append(AuditRow.created_at >= query.since)
    if query.until:
        conditions.append(AuditRow.created_at < query.until)
    return conditions
