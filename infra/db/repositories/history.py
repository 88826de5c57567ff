"""What an organization's checks consulted at a past moment: its entries (tombstones
included), lists, prefix rules and exemptions by their start and end times, the DNC switch's
changes (``dnc_enabled_changes``) and its subscription periods
(``shared_list_subscription_periods``), both kept by triggers (migrations 0010, 0011).

A number a change file deleted from a shared list is kept with when (``shared_list_deletions``,
migration 0012).

A row counts at ``at`` when it began at or before ``at`` and had not ended by then: the
moment of a removal is the first moment it no longer applies, as ``expiresAt`` is."""

from collections.abc import Sequence
from datetime import datetime
from uuid import UUID

from sqlalchemy import (
    ARRAY,
    BigInteger,
    BindParameter,
    ColumnElement,
    Text,
    any_,
    bindparam,
    func,
    select,
)
from sqlalchemy.orm import InstrumentedAttribute

from infra.db.models import (
    DncEntryRow,
    DncListRow,
    EnabledChangeRow,
    ExemptionRow,
    OrganizationRow,
    PrefixRuleRow,
    SharedDeletionRow,
    SharedListRow,
    SubscriptionPeriodRow,
)
from infra.db.repositories.base import Repository, texts
from infra.db.repositories.entries import lists_blocking


def bigints(numbers: Sequence[str]) -> BindParameter[list[int]]:
    """E.164 digits as one ``bigint[]`` parameter (shared lists keep numbers as integers)."""
    return bindparam(None, [int(n) for n in numbers], type_=ARRAY(BigInteger()))  # type: ignore[arg-type]


def _during(
    at: datetime,
    started: InstrumentedAttribute[datetime],
    ended: InstrumentedAttribute[datetime | None],
) -> tuple[ColumnElement[bool], ...]:
    return started <= at, ended.is_(None) | (ended > at)


class SqlHistoryRepository(Repository):
    async def created_at(self, organization_id: UUID) -> datetime | None:
        return await self.session.scalar(
            select(OrganizationRow.created_at).where(OrganizationRow.id == organization_id)
        )

    async def enabled_at(self, organization_id: UUID, at: datetime) -> bool:
        enabled = await self.session.scalar(
            select(EnabledChangeRow.enabled)
            .where(
                EnabledChangeRow.organization_id == organization_id,
                EnabledChangeRow.changed_at <= at,
            )
            .order_by(EnabledChangeRow.changed_at.desc(), EnabledChangeRow.id.desc())
            .limit(1)
        )
        return True if enabled is None else enabled

    async def missing_lists_at(
        self, organization_id: UUID, list_ids: Sequence[str], at: datetime
    ) -> list[str]:
        if not list_ids:
            return []
        found = set(
            await self.session.scalars(
                select(DncListRow.id).where(
                    DncListRow.organization_id == organization_id,
                    DncListRow.id == any_(texts(list_ids)),
                    *_during(at, DncListRow.created_at, DncListRow.deleted_at),
                )
            )
        )
        return [list_id for list_id in list_ids if list_id not in found]

    async def blocking_lists_at(
        self, organization_id: UUID, numbers: Sequence[str], at: datetime, lists: Sequence[str]
    ) -> dict[str, set[str]]:
        during = [
            *_during(at, DncEntryRow.created_at, DncEntryRow.removed_at),
            DncEntryRow.expires_at.is_(None) | (DncEntryRow.expires_at > at),
        ]
        return await lists_blocking(self.session, organization_id, numbers, lists, during)

    async def prefixes_at(self, organization_id: UUID, at: datetime) -> list[str]:
        return list(
            await self.session.scalars(
                select(PrefixRuleRow.prefix)
                .where(
                    PrefixRuleRow.organization_id == organization_id,
                    *_during(at, PrefixRuleRow.created_at, PrefixRuleRow.removed_at),
                )
                .order_by(PrefixRuleRow.prefix)
            )
        )

    async def exempt_at(
        self, organization_id: UUID, numbers: Sequence[str], at: datetime
    ) -> set[str]:
        if not numbers:
            return set()
        return set(
            await self.session.scalars(
                select(ExemptionRow.phone_number)
                .where(
                    ExemptionRow.organization_id == organization_id,
                    ExemptionRow.phone_number == any_(texts(numbers)),
                    *_during(at, ExemptionRow.created_at, ExemptionRow.deleted_at),
                    ExemptionRow.lapses_at.is_(None) | (ExemptionRow.lapses_at > at),
                )
                .distinct()
            )
        )

    async def subscribed_at(self, organization_id: UUID, at: datetime) -> list[str]:
        period = SubscriptionPeriodRow
        rows = await self.session.execute(
            select(period.list_id, SharedListRow.created_at)
            .outerjoin(SharedListRow, SharedListRow.id == period.list_id)
            .where(
                period.organization_id == organization_id,
                *_during(at, period.started_at, period.ended_at),
            )
            .distinct()
            .order_by(SharedListRow.created_at.nulls_last(), period.list_id)
        )
        return [list_id for list_id, _ in rows]

    async def deleted_since(self, list_id: str, numbers: Sequence[str], at: datetime) -> set[str]:
        if not numbers:
            return set()
        found = await self.session.scalars(
            select(func.cast(SharedDeletionRow.number, Text))
            .where(
                SharedDeletionRow.list_id == list_id,
                SharedDeletionRow.number == any_(bigints(numbers)),
                SharedDeletionRow.deleted_at > at,
            )
            .distinct()
        )
        return set(found)

    async def shared_changed_since(self, list_ids: Sequence[str], at: datetime) -> list[str]:
        if not list_ids:
            return []
        unchanged = set(
            await self.session.scalars(
                select(SharedListRow.id).where(
                    SharedListRow.id == any_(texts(list_ids)),
                    SharedListRow.changed_at.is_(None) | (SharedListRow.changed_at <= at),
                )
            )
        )
        return [list_id for list_id in list_ids if list_id not in unchanged]
