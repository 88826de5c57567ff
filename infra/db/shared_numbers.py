"""A shared list's load into Postgres: ``COPY`` into a new generation's table, with no index
while it fills, then one primary key built over the whole (faster than keeping an index up to
date row by row), and the checksum in one pass. Duplicates in the files (a number in two area
codes' files, a file given twice) are dropped before the key is built."""

from collections.abc import AsyncIterator

import asyncpg
from sqlalchemy.ext.asyncio import AsyncEngine

from domain.checksum import Checksum
from domain.errors import InvalidInput
from domain.model import StagedNumbers
from infra.db.copy import transaction
from infra.db.repositories.shared_lists import (
    checksum_sql,
    create_numbers_table,
    index_numbers_table,
    numbers_table,
)


class SqlSharedNumbers:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine

    async def stage(self, chunks: AsyncIterator[bytes]) -> StagedNumbers:
        async with transaction(self.engine) as db:
            generation = int(await db.fetchval("SELECT nextval('shared_list_generations')"))
        table = numbers_table(generation)
        try:
            async with transaction(self.engine) as db:
                await db.execute(create_numbers_table(generation))
                try:
                    await db.copy_to_table(
                        f"g{generation}", schema_name="shared_numbers", source=chunks
                    )
                except (asyncpg.DataError, asyncpg.BadCopyFileFormatError) as exc:
                    raise InvalidInput(f"the numbers could not be stored: {exc}") from exc
                try:
                    async with db.transaction():  # a savepoint: duplicates undo only this
                        await db.execute(index_numbers_table(generation))
                except asyncpg.UniqueViolationError:
                    await db.execute(
                        f"DELETE FROM {table} a USING {table} b "  # noqa: S608 (integers)
                        "WHERE a.number = b.number AND a.ctid > b.ctid"
                    )
                    await db.execute(index_numbers_table(generation))
                await db.execute(f"ANALYZE {table}")
                row = await db.fetchrow(checksum_sql(table))
        except BaseException:
            await self.discard(generation)
            raise
        return StagedNumbers(generation, _checksum(row))

    async def discard(self, generation: int) -> None:
        async with transaction(self.engine) as db:
            await db.execute(f"DROP TABLE IF EXISTS {numbers_table(generation)}")


def _checksum(row: asyncpg.Record | None) -> Checksum:
    if row is None:  # an aggregate always answers one row
        raise RuntimeError("the checksum query answered nothing")
    return Checksum(*(int(value) for value in row))
