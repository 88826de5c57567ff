"""The references of ``dnc_entries`` and ``audit_log`` are checked once per statement by
triggers (migration 0016), not by foreign keys: they must keep every promise a foreign key
kept, tried here in raw SQL, as a hand-typed statement or a path the service has not thought
of would write, and against a parent deleted by another transaction at the same moment."""

import asyncio
import uuid
from uuid import UUID

import asyncpg
import pytest

from infra.settings import Settings
from tests.support.helpers import Org

ENTRY = (
    "INSERT INTO dnc_entries (id, organization_id, phone_number, source, batch_pk, "
    "call_record_id, added_by_user_id) VALUES (gen_random_uuid(), $1, $2, 'api', $3, $4, $5) "
    "RETURNING id"
)
AUDIT = "INSERT INTO audit_log (organization_id, action) VALUES ($1, 'dnc.add')"


async def _batch_and_call(db: asyncpg.Connection, org: Org) -> tuple[UUID, UUID]:
    batch, call = uuid.uuid4(), uuid.uuid4()
    await db.execute(
        "INSERT INTO batches (id, organization_id, batch_id) VALUES ($1, $2, $3)",
        batch, org.id, f"b-{batch}",
    )  # fmt: skip
    await db.execute(
        "INSERT INTO call_records (id, organization_id, batch_pk, request_uuid, phone_number) "
        "VALUES ($1, $2, $3, $4, '12125550100')",
        call, org.id, batch, str(call),
    )  # fmt: skip
    return batch, call


async def _count(db: asyncpg.Connection, table: str, org_id: UUID) -> int:
    found: int = await db.fetchval(
        f"SELECT count(*) FROM {table} WHERE organization_id = $1",  # noqa: S608
        org_id,
    )
    return found


async def test_a_row_naming_a_parent_that_does_not_exist_is_refused_whole(
    db: asyncpg.Connection, org: Org
) -> None:
    batch, call = await _batch_and_call(db, org)
    missing = uuid.uuid4()
    cases = [
        ("fk_dnc_entries_organization_id_organizations", (missing, None, None, org.admin_id)),
        ("fk_dnc_entries_batch_pk_batches", (org.id, missing, call, org.admin_id)),
        ("fk_dnc_entries_call_record_id_call_records", (org.id, batch, missing, None)),
        ("fk_dnc_entries_added_by_user_id_users", (org.id, None, None, missing)),
    ]
    for constraint, (owner, batch_pk, call_id, user) in cases:
        with pytest.raises(asyncpg.ForeignKeyViolationError) as refused:
            await db.execute(ENTRY, owner, "12125550101", batch_pk, call_id, user)
        assert refused.value.constraint_name == constraint
        assert str(missing) in (refused.value.detail or "")
    # one bad row among good ones: the statement writes nothing
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        await db.execute(
            "INSERT INTO dnc_entries (id, organization_id, phone_number, source) "
            "SELECT gen_random_uuid(), o, '1212555' || lpad(n::text, 4, '0'), 'import' "
            "FROM generate_series(1, 5000) n, LATERAL (SELECT CASE WHEN n = 4321 THEN $2::uuid "
            "ELSE $1::uuid END AS o) x",
            org.id, missing,
        )  # fmt: skip
    with pytest.raises(asyncpg.ForeignKeyViolationError) as refused:
        await db.execute(AUDIT, missing)
    assert refused.value.constraint_name == "fk_audit_log_organization_id_organizations"
    assert await _count(db, "dnc_entries", org.id) == 0
    # every reference that exists is taken, and an update naming a missing user is refused
    entry = await db.fetchval(ENTRY, org.id, "12125550102", batch, call, org.admin_id)
    with pytest.raises(asyncpg.ForeignKeyViolationError) as refused:
        await db.execute(
            "UPDATE dnc_entries SET removed_at = now(), removed_by_user_id = $2 WHERE id = $1",
            entry, missing,
        )  # fmt: skip
    assert refused.value.constraint_name == "fk_dnc_entries_removed_by_user_id_users"
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        await db.execute(
            "UPDATE dnc_entries SET organization_id = $2 WHERE id = $1", entry, missing
        )
    assert await db.fetchval("SELECT removed_at FROM dnc_entries WHERE id = $1", entry) is None


async def test_deleting_a_parent_does_what_the_foreign_key_did(
    db: asyncpg.Connection, org: Org, other_org: Org
) -> None:
    batch, call = await _batch_and_call(db, org)
    user, _ = await org.add_user()
    cited = await db.fetchval(ENTRY, org.id, "12125550103", batch, call, user)
    await db.execute(
        "UPDATE dnc_entries SET removed_at = now(), removed_by_user_id = $2 WHERE id = $1",
        cited, user,
    )  # fmt: skip
    kept = await db.fetchval(ENTRY, other_org.id, "12125550103", None, None, other_org.admin_id)
    await db.execute(AUDIT, org.id)
    await db.execute(AUDIT, other_org.id)

    # a user deleted: the entries stay, without the user (SET NULL)
    await db.execute("DELETE FROM users WHERE id = $1", user)
    row = await db.fetchrow(
        "SELECT added_by_user_id, removed_by_user_id FROM dnc_entries WHERE id = $1", cited
    )
    assert tuple(row) == (None, None)
    # a batch or a call an entry cites cannot be deleted (NO ACTION); one nobody cites can
    with pytest.raises(asyncpg.ForeignKeyViolationError) as refused:
        await db.execute("DELETE FROM call_records WHERE id = $1", call)
    assert refused.value.constraint_name == "fk_dnc_entries_call_record_id_call_records"
    await db.execute("UPDATE dnc_entries SET call_record_id = NULL WHERE id = $1", cited)
    await db.execute("DELETE FROM call_records WHERE id = $1", call)
    with pytest.raises(asyncpg.ForeignKeyViolationError) as refused:
        await db.execute("DELETE FROM batches WHERE id = $1", batch)
    assert refused.value.constraint_name == "fk_dnc_entries_batch_pk_batches"
    # a parent's id never changes
    for table, key in (("organizations", org.id), ("users", org.admin_id), ("batches", batch)):
        with pytest.raises(asyncpg.ForeignKeyViolationError):
            await db.execute(f"UPDATE {table} SET id = gen_random_uuid() WHERE id = $1", key)  # noqa: S608
    # an organization deleted: its entries and audit rows go with it (CASCADE), no one else's
    await db.execute("DELETE FROM organizations WHERE id = $1", org.id)
    assert await _count(db, "dnc_entries", org.id) == 0
    assert await _count(db, "audit_log", org.id) == 0
    assert await db.fetchval("SELECT count(*) FROM dnc_entries WHERE id = $1", kept) == 1
    assert await _count(db, "audit_log", other_org.id) >= 1


async def test_a_parent_deleted_while_a_row_naming_it_is_written(
    settings: Settings, org: Org, other_org: Org
) -> None:
    """The lock a foreign key takes: a delete waits for the writer and then takes its rows;
    a writer that waits for a delete is refused once the delete commits."""
    writer = await asyncpg.connect(settings.database_url)
    deleter = await asyncpg.connect(settings.database_url)
    try:
        # the writer first: the delete waits for it, then its cascade takes the new row
        async with writer.transaction():
            await writer.execute(ENTRY, org.id, "12125550104", None, None, None)
            await writer.execute(AUDIT, org.id)
            deleting = asyncio.ensure_future(
                deleter.execute("DELETE FROM organizations WHERE id = $1", org.id)
            )
            await asyncio.sleep(0.3)
            assert not deleting.done()  # held by the writer's lock
        await deleting
        assert await _count(writer, "dnc_entries", org.id) == 0
        assert await _count(writer, "audit_log", org.id) == 0

        # the delete first: the writer waits for it, then is refused
        async with deleter.transaction():
            await deleter.execute("DELETE FROM organizations WHERE id = $1", other_org.id)
            writing = asyncio.ensure_future(
                writer.execute(ENTRY, other_org.id, "12125550105", None, None, None)
            )
            await asyncio.sleep(0.3)
            assert not writing.done()
        with pytest.raises(asyncpg.ForeignKeyViolationError):
            await writing
        assert await _count(writer, "dnc_entries", other_org.id) == 0
    finally:
        await writer.close()
        await deleter.close()
