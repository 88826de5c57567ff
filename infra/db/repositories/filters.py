"""Which entries a query selects; shared by the entries and the mirror's reads."""

from datetime import datetime
from uuid import UUID

from sqlalchemy import (
    or_,
)
from sqlalchemy.sql.elements import ColumnElement

from infra.db.models import (
    DncEntryRow,
)


def not_removed_matching(
    organization_id: UUID, search: str | None, list_id: str
) -> list[ColumnElement[bool]]:
    """A list's entries not removed, expired ones included (an expired entry stays until the
    expiry job or a new listing retires it), optionally matching a search text (in the type,
    the requestUUID, or the number's digits). What the list pages show."""
    conditions: list[ColumnElement[bool]] = [
        DncEntryRow.organization_id == organization_id,
        DncEntryRow.list_id == list_id,
        DncEntryRow.removed_at.is_(None),
    ]
    if search:
        pattern = "%" + search.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        digits = "".join(ch for ch in search if ch.isdigit())
        matches: list[ColumnElement[bool]] = [
            DncEntryRow.type.ilike(pattern),
            DncEntryRow.request_uuid.ilike(pattern),
        ]
        if digits:
            matches.append(DncEntryRow.phone_number.contains(digits, autoescape=True))
        conditions.append(or_(*matches))
    return conditions


def blocking_at(
    organization_id: UUID, now: datetime, list_id: str
) -> tuple[ColumnElement[bool], ...]:
    """A list's entries not removed and not expired at ``now``: what a check blocks, and what
    the mirror holds."""
    return (
        DncEntryRow.organization_id == organization_id,
        DncEntryRow.list_id == list_id,
        *still_blocking(now),
    )


def still_blocking(now: datetime) -> tuple[ColumnElement[bool], ...]:
    """Entries not removed and not expired at ``now``."""
    return (
        DncEntryRow.removed_at.is_(None),
        DncEntryRow.expires_at.is_(None) | (DncEntryRow.expires_at > now),
    )
