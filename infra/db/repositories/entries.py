"""The DNC entries: listing, removal, checks and expiry."""

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from uuid import UUID

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    any_,
    func,
    select,
    tuple_,
    update,
)
from sqlalchemy import (
    cast as cast_,
)
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from domain.errors import AlreadyListed
from domain.model import (
    DEFAULT_LIST,
    DncEntry,
    EnforcementReport,
    PastEntry,
)
from domain.rules import LIST_DELETED
from infra.db.mappers import (
    entry_from_row,
    entry_values,
)
from infra.db.models import (
    DncEntryRow,
)
from infra.db.repositories.base import texts
from infra.db.repositories.filters import blocking_at, not_removed_matching, still_blocking
from infra.db.repositories.mirror import MirrorQueries

# the unique index of listed entries: a number is listed at most once a list
LISTED = [DncEntryRow.organization_id, DncEntryRow.list_id, DncEntryRow.phone_number]


class SqlDncEntryRepository(MirrorQueries):
    async def get(self, organization_id: UUID, entry_id: UUID) -> DncEntry | None:
        row = await self.session.scalar(
            select(DncEntryRow).where(
                DncEntryRow.organization_id == organization_id, DncEntryRow.id == entry_id
            )
        )
        return entry_from_row(row) if row else None

    async def get_active(
        self, organization_id: UUID, phone_number: str, list_id: str = DEFAULT_LIST
    ) -> DncEntry | None:
        """At most one row matches: the partial unique index on the list's number (not
        removed)."""
        row = await self.session.scalar(
            select(DncEntryRow).where(
                DncEntryRow.organization_id == organization_id,
                DncEntryRow.list_id == list_id,
                DncEntryRow.phone_number == phone_number,
                DncEntryRow.removed_at.is_(None),
            )
        )
        return entry_from_row(row) if row else None

    async def enforcement(
        self, organization_id: UUID, since: datetime, until: datetime
    ) -> EnforcementReport:
        taken = func.extract("epoch", DncEntryRow.created_at - DncEntryRow.requested_at)
        row = (
            await self.session.execute(
                select(
                    func.count(),
                    func.percentile_cont(0.5).within_group(taken),
                    func.max(taken),
                ).where(
                    DncEntryRow.organization_id == organization_id,
                    DncEntryRow.requested_at >= since,
                    DncEntryRow.requested_at < until,
                )
            )
        ).one()
        count, median, longest = row
        return EnforcementReport(
            since,
            until,
            int(count),
            None if median is None else float(median),
            None if longest is None else float(longest),
        )

    async def history(
        self, organization_id: UUID, phone_number: str, list_id: str | None
    ) -> list[PastEntry]:
        query = select(DncEntryRow).where(
            DncEntryRow.organization_id == organization_id,
            DncEntryRow.phone_number == phone_number,
        )
        if list_id is not None:
            query = query.where(DncEntryRow.list_id == list_id)
        rows = await self.session.scalars(query.order_by(DncEntryRow.created_at, DncEntryRow.id))
        return [
            PastEntry(
                entry_from_row(row), row.removed_at, row.removed_by_user_id, row.removal_reason
            )
            for row in rows
        ]

    async def add(self, entry: DncEntry) -> None:
        inserted = await self.session.scalar(
            insert(DncEntryRow)
            .values(**entry_values(entry))
            .on_conflict_do_nothing(
                index_elements=LISTED, index_where=DncEntryRow.removed_at.is_(None)
            )
            .returning(DncEntryRow.id)
        )
        if inserted is None:
            raise AlreadyListed(f"Phone number {entry.phone_number} is already on the DNC list")

    async def remove(
        self, organization_id: UUID, entry_id: UUID, user_id: UUID | None, reason: str | None
    ) -> DncEntry | None:
        row = await self.session.scalar(
            update(DncEntryRow)
            .where(
                DncEntryRow.organization_id == organization_id,
                DncEntryRow.id == entry_id,
                DncEntryRow.removed_at.is_(None),
            )
            .values(removed_at=func.now(), removed_by_user_id=user_id, removal_reason=reason)
            .returning(DncEntryRow)
        )
        return entry_from_row(row) if row else None

    async def count_blocked(
        self, organization_id: UUID, now: datetime, list_id: str = DEFAULT_LIST
    ) -> int:
        return (
            await self.session.scalar(
                select(func.count()).where(*blocking_at(organization_id, now, list_id))
            )
            or 0
        )

    async def blocked_among(
        self,
        organization_id: UUID,
        numbers: Sequence[str],
        now: datetime,
        list_id: str = DEFAULT_LIST,
    ) -> set[str]:
        return await self._among(numbers, *blocking_at(organization_id, now, list_id))

    async def blocking_lists(
        self, organization_id: UUID, numbers: Sequence[str], now: datetime, lists: Sequence[str]
    ) -> dict[str, set[str]]:
        return await lists_blocking(
            self.session, organization_id, numbers, lists, still_blocking(now)
        )

    async def stream_blocked(
        self, organization_id: UUID, now: datetime, chunk: int, list_id: str = DEFAULT_LIST
    ) -> AsyncIterator[list[str]]:
        result = await self.session.stream_scalars(
            select(DncEntryRow.phone_number)
            .where(*blocking_at(organization_id, now, list_id))
            .execution_options(yield_per=chunk)
        )
        async for partition in result.partitions(chunk):
            yield list(partition)

    async def stream_blocked_buckets(
        self, organization_id: UUID, now: datetime, buckets: int, list_id: str = DEFAULT_LIST
    ) -> AsyncIterator[list[tuple[int, list[int]]]]:
        number = cast_(DncEntryRow.phone_number, BigInteger)
        bucket = (number % buckets).label("bucket")
        result = await self.session.stream(
            select(bucket, func.array_agg((number - number % buckets) // buckets))
            .where(*blocking_at(organization_id, now, list_id))
            .group_by(bucket)
            .execution_options(yield_per=500)
        )
        async for partition in result.partitions(500):
            yield [(int(b), list(members)) for b, members in partition]

    async def page(
        self,
        organization_id: UUID,
        search: str | None,
        after: tuple[datetime, UUID] | None,
        offset: int,
        limit: int,
        list_id: str = DEFAULT_LIST,
    ) -> list[DncEntry]:
        query = (
            select(DncEntryRow)
            .where(*not_removed_matching(organization_id, search, list_id))
            .order_by(DncEntryRow.created_at.desc(), DncEntryRow.id.desc())
            .limit(limit)
        )
        if after is not None:
            query = query.where(tuple_(DncEntryRow.created_at, DncEntryRow.id) < tuple_(*after))
        elif offset:
            query = query.offset(offset)
        return [entry_from_row(row) for row in await self.session.scalars(query)]

    async def count_listed(
        self, organization_id: UUID, search: str | None, list_id: str = DEFAULT_LIST
    ) -> int:
        return (
            await self.session.scalar(
                select(func.count()).where(*not_removed_matching(organization_id, search, list_id))
            )
            or 0
        )

    async def add_many(self, entries: Sequence[DncEntry]) -> set[UUID]:
        added: set[UUID] = set()
        for start in range(0, len(entries), 2000):
            chunk = entries[start : start + 2000]
            rows = await self.session.scalars(
                insert(DncEntryRow)
                .values([entry_values(e) for e in chunk])
                .on_conflict_do_nothing(
                    index_elements=LISTED, index_where=DncEntryRow.removed_at.is_(None)
                )
                .returning(DncEntryRow.id)
            )
            added.update(rows)
        return added

    async def retire_expired(
        self,
        organization_id: UUID,
        numbers: Sequence[str],
        now: datetime,
        list_id: str = DEFAULT_LIST,
    ) -> list[UUID]:
        if not numbers:
            return []
        return list(
            await self.session.scalars(
                update(DncEntryRow)
                .where(
                    DncEntryRow.organization_id == organization_id,
                    DncEntryRow.list_id == list_id,
                    DncEntryRow.phone_number == any_(texts(numbers)),
                    DncEntryRow.removed_at.is_(None),
                    DncEntryRow.expires_at <= now,
                )
                .values(removed_at=func.now(), removal_reason="expired")
                .returning(DncEntryRow.id)
            )
        )

    async def expire_due(self, now: datetime, limit: int) -> list[DncEntry]:
        due = (
            select(DncEntryRow.id)
            .where(DncEntryRow.removed_at.is_(None), DncEntryRow.expires_at <= now)
            .limit(limit)
            .with_for_update(skip_locked=True)
            .scalar_subquery()
        )
        rows = await self.session.scalars(
            update(DncEntryRow)
            .where(DncEntryRow.id.in_(due))
            .values(removed_at=func.now(), removal_reason="expired")
            .returning(DncEntryRow)
        )
        return [entry_from_row(row) for row in rows]

    async def remove_list(
        self, organization_id: UUID, list_id: str, user_id: UUID | None
    ) -> list[UUID]:
        return list(
            await self.session.scalars(
                update(DncEntryRow)
                .where(
                    DncEntryRow.organization_id == organization_id,
                    DncEntryRow.list_id == list_id,
                    DncEntryRow.removed_at.is_(None),
                )
                .values(
                    removed_at=func.now(), removed_by_user_id=user_id, removal_reason=LIST_DELETED
                )
                .returning(DncEntryRow.id)
            )
        )


async def lists_blocking(
    session: AsyncSession,
    organization_id: UUID,
    numbers: Sequence[str],
    lists: Sequence[str],
    blocking: Sequence[ColumnElement[bool]],
) -> dict[str, set[str]]:
    """Which of ``lists`` block each of ``numbers``: entries that meet ``blocking`` (now, or
    at a past moment)."""
    if not numbers or not lists:
        return {}
    rows = await session.execute(
        select(DncEntryRow.phone_number, DncEntryRow.list_id).where(
            DncEntryRow.organization_id == organization_id,
            DncEntryRow.list_id == any_(texts(lists)),
            DncEntryRow.phone_number == any_(texts(numbers)),
            *blocking,
        )
    )
    found: dict[str, set[str]] = {}
    for number, list_id in rows:
        found.setdefault(number, set()).add(list_id)
    return found
