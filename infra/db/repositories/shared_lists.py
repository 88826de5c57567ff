"""Shared lists, their numbers and the organizations that subscribe to them.

A list's numbers are lean rows: one ``bigint`` (E.164 digits) each, in a table of their own
per load, ``shared_numbers.g<generation>`` (migration 0008). The list's row names the live
generation and keeps its checksum, so a change adjusts it and nobody re-reads 100 million
rows to compare the mirror.
"""

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from uuid import UUID

from sqlalchemy import delete, func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import ProgrammingError

from domain.checksum import P1, P2, P3, Checksum
from domain.errors import Conflict
from domain.model import SharedList, StagedNumbers
from infra.db.mappers import shared_from_row
from infra.db.models import SharedListRow, SubscriptionRow
from infra.db.repositories.base import Repository

LOAD_RACES = 3  # loads swapped in during one check before it gives up (and answers 503)


def numbers_table(generation: int) -> str:
    """A generation's table: its name is made of an integer only."""
    return f"shared_numbers.g{int(generation)}"


def checksum_sql(table: str) -> str:
    """The checksum of a numbers table's rows (``domain/checksum.py``), in one pass."""
    return (
        f"SELECT count(*), coalesce(sum(number % {P1}) % {P1}, 0), "  # noqa: S608 (no input)
        f"coalesce(sum(number % {P2}) % {P2}, 0), "
        f"coalesce(sum((number % {P3}) * (number % {P3}) % {P3}) % {P3}, 0) FROM {table}"
    )


class SqlSharedListRepository(Repository):
    async def add(self, shared: SharedList) -> None:
        row = await self.session.scalar(
            insert(SharedListRow)
            .values(
                id=shared.id,
                name=shared.name,
                kind=shared.kind,
                max_age_days=shared.max_age_days,
                created_at=shared.created_at,
            )
            .on_conflict_do_nothing()
            .returning(SharedListRow.id)
        )
        if row is None:
            raise Conflict(f"A shared list named {shared.name!r} exists already")

    async def get(
        self, list_id: str, lock: bool = False, skip_locked: bool = False
    ) -> SharedList | None:
        query = select(SharedListRow).where(SharedListRow.id == list_id)
        if lock:
            query = query.with_for_update(skip_locked=skip_locked)
        row = await self.session.scalar(query)
        return shared_from_row(row) if row else None

    async def all(self) -> list[SharedList]:
        rows = await self.session.scalars(
            select(SharedListRow).order_by(SharedListRow.created_at, SharedListRow.id)
        )
        return [shared_from_row(row) for row in rows]

    async def subscribed(self, organization_id: UUID) -> list[SharedList]:
        rows = await self.session.scalars(
            select(SharedListRow)
            .join(SubscriptionRow, SubscriptionRow.list_id == SharedListRow.id)
            .where(SubscriptionRow.organization_id == organization_id)
            .order_by(SharedListRow.created_at, SharedListRow.id)
        )
        return [shared_from_row(row) for row in rows]

    async def subscribe(self, organization_id: UUID, list_id: str) -> bool:
        added = await self.session.scalar(
            insert(SubscriptionRow)
            .values(organization_id=organization_id, list_id=list_id)
            .on_conflict_do_nothing()
            .returning(SubscriptionRow.list_id)
        )
        return added is not None

    async def unsubscribe(self, organization_id: UUID, list_id: str) -> bool:
        removed = await self.session.scalar(
            delete(SubscriptionRow)
            .where(
                SubscriptionRow.organization_id == organization_id,
                SubscriptionRow.list_id == list_id,
            )
            .returning(SubscriptionRow.list_id)
        )
        return removed is not None

    async def checksum(self, list_id: str) -> Checksum:
        row = await self.session.get(SharedListRow, list_id)
        return Checksum(row.count, row.sum1, row.sum2, row.sum3) if row else Checksum()

    async def subscribers(self, list_id: str) -> list[UUID]:
        rows = await self.session.scalars(
            select(SubscriptionRow.organization_id)
            .where(SubscriptionRow.list_id == list_id)
            .order_by(SubscriptionRow.organization_id)
        )
        return list(rows)

    async def subscriber_counts(self) -> dict[str, int]:
        rows = await self.session.execute(
            select(SubscriptionRow.list_id, func.count()).group_by(SubscriptionRow.list_id)
        )
        return {list_id: int(count) for list_id, count in rows}

    async def listed_among(self, shared: SharedList, numbers: Sequence[str]) -> set[str]:
        """A load that swaps in meanwhile drops the generation read: the query then runs
        again on the one that replaced it (in a savepoint, so the transaction goes on)."""
        generation = shared.generation
        for _ in range(LOAD_RACES):
            if generation is None or not numbers:
                return set()
            try:
                async with self.session.begin_nested():
                    rows = await self.session.scalars(
                        text(
                            f"SELECT number::text FROM {numbers_table(generation)} "  # noqa: S608
                            "WHERE number = ANY(CAST(CAST(:numbers AS text[]) AS bigint[]))"
                        ),
                        {"numbers": list(numbers)},
                    )
                    return set(rows)
            except ProgrammingError as exc:
                if not isinstance(exc.orig, Exception) or "does not exist" not in str(exc.orig):
                    raise
            generation = await self.session.scalar(
                select(SharedListRow.generation).where(SharedListRow.id == shared.id)
            )
        raise RuntimeError(f"shared list {shared.id} kept changing under a check")

    async def numbers_after(self, shared: SharedList, after: int, limit: int) -> list[int]:
        if shared.generation is None:
            return []
        rows = await self.session.scalars(
            text(
                f"SELECT number FROM {numbers_table(shared.generation)} "  # noqa: S608
                "WHERE number > :after ORDER BY number LIMIT :limit"
            ),
            {"after": after, "limit": limit},
        )
        return list(rows)

    async def stream_buckets(
        self, shared: SharedList, buckets: int
    ) -> AsyncIterator[list[tuple[int, list[int]]]]:
        if shared.generation is None:
            return
        table = numbers_table(shared.generation)
        result = await self.session.stream(
            text(
                f"SELECT number % :b AS bucket, array_agg((number - number % :b) / :b) "  # noqa: S608
                f"FROM {table} GROUP BY bucket"
            ).execution_options(yield_per=500),
            {"b": buckets},
        )
        async for partition in result.partitions(500):
            yield [(int(bucket), list(members)) for bucket, members in partition]

    async def swap(
        self, list_id: str, staged: StagedNumbers, downloaded_at: datetime, loaded_at: datetime
    ) -> None:
        old = await self.session.scalar(
            select(SharedListRow.generation).where(SharedListRow.id == list_id).with_for_update()
        )
        await self._set(list_id, staged.checksum, downloaded_at, loaded_at, staged.generation)
        if old is not None and old != staged.generation:
            await self.session.execute(text(f"DROP TABLE IF EXISTS {numbers_table(old)}"))

    async def change(
        self,
        shared: SharedList,
        add: Sequence[str],
        remove: Sequence[str],
        downloaded_at: datetime,
    ) -> tuple[int, int]:
        generation = shared.generation
        if generation is None:
            next_value = text("SELECT nextval('shared_list_generations')")
            generation = int(await self.session.scalar(next_value) or 0)
            await self.session.execute(text(create_numbers_table(generation)))
            await self.session.execute(text(index_numbers_table(generation)))
        table = numbers_table(generation)
        added = (
            list(
                await self.session.scalars(
                    text(
                        f"INSERT INTO {table} (number) "
                        "SELECT DISTINCT unnest(CAST(CAST(:numbers AS text[]) AS bigint[])) "
                        "ON CONFLICT DO NOTHING RETURNING number"
                    ),
                    {"numbers": list(add)},
                )
            )
            if add
            else []
        )
        removed = (
            list(
                await self.session.scalars(
                    text(
                        f"DELETE FROM {table} "  # noqa: S608
                        "WHERE number = ANY(CAST(CAST(:numbers AS text[]) AS bigint[])) "
                        "RETURNING number"
                    ),
                    {"numbers": list(remove)},
                )
            )
            if remove
            else []
        )
        if removed:  # kept, so that a check at an earlier moment still finds them
            await self.session.execute(
                text(
                    "INSERT INTO shared_list_deletions (list_id, number, deleted_at) "
                    "SELECT :list_id, unnest(CAST(CAST(:numbers AS text[]) AS bigint[])), now()"
                ),
                {"list_id": shared.id, "numbers": [str(number) for number in removed]},
            )
        row = await self.session.get_one(SharedListRow, shared.id, with_for_update=True)
        checksum = (
            Checksum(row.count, row.sum1, row.sum2, row.sum3)
            + Checksum.of(added)
            - Checksum.of(removed)
        )
        await self._set(shared.id, checksum, downloaded_at, row.loaded_at, generation)
        return len(added), len(removed)

    async def _set(
        self,
        list_id: str,
        checksum: Checksum,
        downloaded_at: datetime,
        loaded_at: datetime | None,
        generation: int,
    ) -> None:
        """The list's data changed (its numbers, its freshness or both): ``changed_at`` tells
        checks at a past moment that they answer with later data."""
        await self.session.execute(
            update(SharedListRow)
            .where(SharedListRow.id == list_id)
            .values(
                changed_at=func.now(),
                generation=generation,
                downloaded_at=downloaded_at,
                loaded_at=loaded_at,
                count=checksum.count,
                sum1=checksum.sum1,
                sum2=checksum.sum2,
                sum3=checksum.sum3,
            )
        )


def create_numbers_table(generation: int) -> str:
    return f"CREATE TABLE {numbers_table(generation)} (number bigint NOT NULL)"


def index_numbers_table(generation: int) -> str:
    return (
        f"ALTER TABLE {numbers_table(generation)} "
        f"ADD CONSTRAINT g{int(generation)}_pkey PRIMARY KEY (number)"
    )
