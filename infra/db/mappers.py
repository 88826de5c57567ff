"""Rows to domain records and back: the one place that knows both shapes.

Records whose fields match their row's columns are mapped by the record's field list
(``dataclasses.fields``), so a field is declared in the domain model and the ORM model only.
"""

from dataclasses import fields
from typing import Any, cast

from domain.model import (
    AuditRecord,
    Batch,
    CallRecord,
    DncEntry,
    DncList,
    Exemption,
    ExemptionBasis,
    ListKind,
    Organization,
    OutboxMessage,
    PrefixRule,
    Role,
    SharedList,
    SharedListKind,
    User,
)
from infra.db.models import (
    AuditRow,
    BatchRow,
    CallRecordRow,
    DncEntryRow,
    DncListRow,
    ExemptionRow,
    OrganizationRow,
    OutboxRow,
    PrefixRuleRow,
    SharedListRow,
    UserRow,
)

# A call's columns: the record's fields but ``batch_id`` (the batch's own name, joined in).
CALL_COLUMNS = tuple(f.name for f in fields(CallRecord) if f.name != "batch_id")
# An entry's fields and the column each is stored in (one field is named differently).
ENTRY_COLUMNS = {
    f.name: "added_by_user_id" if f.name == "added_by" else f.name for f in fields(DncEntry)
}


def organization_from_row(row: OrganizationRow) -> Organization:
    return Organization(row.id, row.name, row.dnc_enabled)


def user_from_row(row: UserRow) -> User:
    return User(row.id, row.organization_id, row.email, cast(Role, row.role))


def batch_from_row(row: BatchRow) -> Batch:
    return Batch(row.id, row.organization_id, row.batch_id, row.user_id, row.name, row.created_at)


def call_from_row(row: CallRecordRow, batch_id: str) -> CallRecord:
    columns: dict[str, Any] = {name: getattr(row, name) for name in CALL_COLUMNS}
    return CallRecord(batch_id=batch_id, **columns)


def call_values(call: CallRecord) -> dict[str, object]:
    return {name: getattr(call, name) for name in CALL_COLUMNS}


def entry_from_row(row: DncEntryRow) -> DncEntry:
    values: dict[str, Any] = {name: getattr(row, column) for name, column in ENTRY_COLUMNS.items()}
    return DncEntry(**values)


def entry_values(entry: DncEntry) -> dict[str, object]:
    return {column: getattr(entry, name) for name, column in ENTRY_COLUMNS.items()}


def audit_record_from_row(row: AuditRow) -> AuditRecord:
    return AuditRecord(
        row.id,
        row.action,
        row.actor_user_id,
        row.phone_number,
        row.entity_id,
        row.before,
        row.after,
        row.created_at,
        row.list_id,
    )


def outbox_message_from_row(row: OutboxRow) -> OutboxMessage:
    return OutboxMessage(row.id, row.organization_id, row.kind, dict(row.payload), row.attempts)


def list_from_row(row: DncListRow, count: int) -> DncList:
    return DncList(
        row.organization_id,
        row.id,
        row.name,
        cast(ListKind, row.kind),
        row.description,
        row.created_at,
        count,
    )


def rule_from_row(row: PrefixRuleRow) -> PrefixRule:
    return PrefixRule(
        row.id, row.organization_id, row.prefix, row.reason, row.created_by_user_id, row.created_at
    )


def shared_from_row(row: SharedListRow) -> SharedList:
    return SharedList(
        id=row.id,
        name=row.name,
        kind=cast(SharedListKind, row.kind),  # the check constraint keeps it one of them
        max_age_days=row.max_age_days,
        created_at=row.created_at,
        downloaded_at=row.downloaded_at,
        loaded_at=row.loaded_at,
        count=row.count,
        generation=row.generation,
    )


def exemption_from_row(row: ExemptionRow) -> Exemption:
    return Exemption(
        row.id,
        row.organization_id,
        row.phone_number,
        cast(ExemptionBasis, row.basis),
        row.since,
        row.lapses_at,
        row.created_by_user_id,
        row.created_at,
    )
