"""A chunked import and the statement-level reference triggers against other writers of
the same rows at the same moment, as an attacker or a hurried operator would line them up:
each writer holds its rows while the import (or the trigger) decides, then commits."""

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import asyncpg
import pytest

from domain.usecases.transfer import process_waited
from infra.db import imports
from infra.db.copy import staging_table
from infra.db.imports import SqlListTransfers
from infra.settings import Settings
from tests.support.helpers import Org, resources_for

EXPIRED_ENTRY = (
    "INSERT INTO dnc_entries (id, organization_id, phone_number, source, created_at, "
    "expires_at) VALUES (gen_random_uuid(), $1, $2, 'api', now() - interval '2 hours', "
    "now() - interval '1 hour') RETURNING id"
)


async def _rows(text: bytes) -> AsyncIterator[bytes]:
    yield text


async def test_an_entry_removed_while_the_import_retires_it_keeps_its_removal(
    settings: Settings, org: Org, db: asyncpg.Connection
) -> None:
    """The import retires an expired entry of a number in its file; a user removes that entry
    at the same moment and commits first. The user's removal stands (who, why), and the entry
    is not retired a second time nor audited as expired by the import."""
    entry = await db.fetchval(EXPIRED_ENTRY, org.id, "12125550301")
    async with resources_for(settings) as resources:
        transfers = SqlListTransfers(resources.engine)
        staged = await transfers.stage(org.id, org.admin_id, _rows(b"phoneNumber\n2125550301\n"))
        async with db.transaction():
            await db.execute(
                "UPDATE dnc_entries SET removed_at = now(), removed_by_user_id = $2, "
                "removal_reason = 'wrong number' WHERE id = $1",
                entry, org.admin_id,
            )  # fmt: skip
            importing = asyncio.ensure_future(transfers.process(staged.id, resources.mirror))
            await asyncio.sleep(0.5)  # the import waits for the removal's row
        report = await importing
    assert (report.added, report.duplicate) == (1, 0)
    row = await db.fetchrow(
        "SELECT removal_reason, removed_by_user_id FROM dnc_entries WHERE id = $1", entry
    )
    assert tuple(row) == ("wrong number", org.admin_id)
    expired = await db.fetchval(
        "SELECT count(*) FROM audit_log WHERE organization_id = $1 AND action LIKE '%expire%'",
        org.id,
    )
    assert expired == 0
    listed = await db.fetchval(
        "SELECT count(*) FROM dnc_entries WHERE organization_id = $1 "
        "AND phone_number = '12125550301' AND removed_at IS NULL",
        org.id,
    )
    assert listed == 1


async def test_an_update_moving_rows_onto_a_key_another_row_holds_locks_it(
    org: Org, db: asyncpg.Connection, settings: Settings
) -> None:
    """One statement sets a user on a row that had none and on one that had it already; the
    user is deleted meanwhile. A foreign key checks (and locks) the key of each row whose key
    changed, so the delete waits and then clears both: no entry is left naming a user that
    does not exist."""
    user, _ = await org.add_user()
    first = await db.fetchval(EXPIRED_ENTRY, org.id, "12125550302")
    second = await db.fetchval(EXPIRED_ENTRY, org.id, "12125550303")
    await db.execute("UPDATE dnc_entries SET added_by_user_id = $2 WHERE id = $1", second, user)
    deleter = await asyncpg.connect(settings.database_url)
    try:
        async with db.transaction():
            await db.execute(
                "UPDATE dnc_entries SET added_by_user_id = $3 WHERE id IN ($1, $2)",
                first, second, user,
            )  # fmt: skip
            deleting = asyncio.ensure_future(
                deleter.execute("DELETE FROM users WHERE id = $1", user)
            )
            await asyncio.sleep(0.3)
        await deleting
    finally:
        await deleter.close()
    orphans = await db.fetch(
        "SELECT phone_number FROM dnc_entries e WHERE organization_id = $1 "
        "AND added_by_user_id IS NOT NULL "
        "AND NOT EXISTS (SELECT FROM users u WHERE u.id = e.added_by_user_id)",
        org.id,
    )
    assert [r[0] for r in orphans] == []


async def test_an_import_whose_rows_cannot_be_read_lists_nothing_and_leaves_no_table(
    settings: Settings, org: Org, db: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The second chunk's rows fail (on the reader's side) while the first is being inserted:
    the insert is cancelled, nothing is listed, the import is failed and its staged rows go."""
    monkeypatch.setattr(imports, "CHUNK", 2)
    checked = imports._checked
    calls = 0

    def failing(*arguments: Any) -> Any:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise ConnectionResetError("the reader's connection was cut")
        return checked(*arguments)

    monkeypatch.setattr(imports, "_checked", failing)
    rows = b"phoneNumber\n" + b"".join(b"21255504%02d\n" % i for i in range(6))
    async with resources_for(settings) as resources:
        transfers = SqlListTransfers(resources.engine)
        staged = await transfers.stage(org.id, org.admin_id, _rows(rows))
        with pytest.raises(ConnectionResetError):
            await asyncio.wait_for(
                process_waited(transfers, resources.mirror, staged.id), timeout=10
            )
        report = await transfers.report(org.id, staged.id)
        assert report.status == "failed"
        listed = await db.fetchval(
            "SELECT count(*) FROM dnc_entries WHERE organization_id = $1", org.id
        )
        assert listed == 0
        assert await db.fetchval("SELECT to_regclass($1)", staging_table(staged.id)) is None
        # the pool's connections are usable again
        assert (await transfers.report(org.id, staged.id)).status == "failed"


async def test_two_imports_of_the_same_numbers_in_other_orders_both_finish(
    settings: Settings, org: Org, db: asyncpg.Connection, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each chunk inserts its numbers in order, but the chunks follow the file: two files
    naming the same numbers in opposite orders take the numbers' index entries in opposite
    orders. Neither import may fail for it (a deadlock is for the database to break, and the
    import to run again): every number is listed, once, and both imports are done."""
    monkeypatch.setattr(imports, "CHUNK", 1)
    numbers = [f"21255505{i:02d}" for i in range(4)]
    files = [
        ("phoneNumber\n" + "\n".join(order) + "\n").encode() for order in (numbers, numbers[::-1])
    ]
    async with resources_for(settings) as first, resources_for(settings) as second:
        runs = []
        for resources, text in zip((first, second), files, strict=True):
            transfers = SqlListTransfers(resources.engine)
            staged = await transfers.stage(org.id, org.admin_id, _rows(text))
            runs.append(transfers.process(staged.id, resources.mirror))
        reports = await asyncio.wait_for(asyncio.gather(*runs), timeout=20)
    assert [sum(r.added for r in reports), sum(r.duplicate for r in reports)] == [4, 4]
    listed = await db.fetchval(
        "SELECT count(*) FROM dnc_entries WHERE organization_id = $1 AND removed_at IS NULL",
        org.id,
    )
    assert listed == 4
