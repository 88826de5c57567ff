"""Migrations 0010-0012 backfill what checks at a past moment need from what was kept before
them: the DNC switch's history and the subscription periods, from the audit log; and they
undo cleanly. Run on a database of their own, from revision 0009 up."""

import asyncio
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from alembic import command

from infra.db.migrate import alembic_config, upgrade
from infra.settings import Settings
from tests.support.suite import SERVER_URL

ORG_A, ORG_B = uuid.UUID(int=1), uuid.UUID(int=2)
SEED = """
INSERT INTO organizations (id, name, dnc_enabled, created_at) VALUES
  ('00000000-0000-0000-0000-000000000001', 'a', true, '2026-01-01Z'),
  ('00000000-0000-0000-0000-000000000002', 'b', false, '2026-01-01Z');
INSERT INTO audit_log (organization_id, action, before, after, created_at) VALUES
  ('00000000-0000-0000-0000-000000000002', 'dnc.disable', '{"enabled": true}',
   '{"enabled": false}', '2026-02-01Z'),
  ('00000000-0000-0000-0000-000000000002', 'dnc.enable', '{"enabled": false}',
   '{"enabled": true}', '2026-03-01Z'),
  ('00000000-0000-0000-0000-000000000002', 'dnc.disable', '{"enabled": true}',
   '{"enabled": false}', '2026-04-01Z');
INSERT INTO shared_lists (id, name, kind, max_age_days, generation) VALUES
  ('sl_1', 'r', 'registry', 31, NULL), ('sl_2', 'l', 'litigator', 31, NULL);
INSERT INTO shared_list_subscriptions (organization_id, list_id, created_at) VALUES
  ('00000000-0000-0000-0000-000000000001', 'sl_1', '2026-05-01Z');
INSERT INTO audit_log (organization_id, action, entity_id, created_at) VALUES
  ('00000000-0000-0000-0000-000000000001', 'shared.subscribe', 'sl_2', '2026-02-01Z'),
  ('00000000-0000-0000-0000-000000000001', 'shared.unsubscribe', 'sl_2', '2026-03-01Z'),
  ('00000000-0000-0000-0000-000000000001', 'shared.subscribe', 'sl_1', '2026-05-01Z');
"""


def day(month: int) -> datetime:
    return datetime(2026, month, 1, tzinfo=UTC)


async def _admin(query: str) -> None:
    connection = await asyncpg.connect(f"{SERVER_URL}/postgres")
    try:
        await connection.execute(query)
    finally:
        await connection.close()


async def _run(url: str, query: str) -> list[Any]:
    """The rows of one query; several statements (no rows) run as a script."""
    connection = await asyncpg.connect(url)
    try:
        if ";" in query:
            await connection.execute(query)
            return []
        return list(await connection.fetch(query))
    finally:
        await connection.close()


@pytest.fixture
def database() -> Iterator[Settings]:
    name = f"dnc_test_asof_{uuid.uuid4().hex[:10]}"
    settings = Settings(database_url=f"{SERVER_URL}/{name}")
    try:
        yield settings
    finally:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def test_the_history_is_backfilled_from_the_audit_log(database: Settings) -> None:
    url = database.database_url
    upgrade(database, "0009_entry_requested_at")
    asyncio.run(_run(url, SEED))
    upgrade(database)
    rows = asyncio.run(
        _run(url, "SELECT organization_id, enabled, changed_at FROM dnc_enabled_changes "
                  "ORDER BY organization_id, changed_at")
    )  # fmt: skip
    assert [tuple(r) for r in rows] == [
        (ORG_A, True, day(1)),  # no toggle: its state now, from its creation
        (ORG_B, True, day(1)),  # its first toggle's "before"
        (ORG_B, False, day(2)),
        (ORG_B, True, day(3)),
        (ORG_B, False, day(4)),
    ]
    rows = asyncio.run(
        _run(url, "SELECT list_id, started_at, ended_at FROM shared_list_subscription_periods "
                  "ORDER BY started_at")
    )  # fmt: skip
    assert [tuple(r) for r in rows] == [("sl_2", day(2), day(3)), ("sl_1", day(5), None)]
    # from now on the triggers keep both
    asyncio.run(
        _run(url, "UPDATE organizations SET dnc_enabled = true WHERE name = 'b'; "
                  "UPDATE organizations SET name = 'bb' WHERE name = 'b'; "
                  "DELETE FROM shared_list_subscriptions")
    )  # fmt: skip
    rows = asyncio.run(
        _run(url, "SELECT c.enabled FROM dnc_enabled_changes c JOIN organizations o "
                  "ON o.id = c.organization_id WHERE o.name = 'bb' ORDER BY c.changed_at")
    )  # fmt: skip
    assert [r["enabled"] for r in rows] == [True, False, True, False, True]  # not the rename
    rows = asyncio.run(
        _run(url, "SELECT ended_at FROM shared_list_subscription_periods WHERE list_id = 'sl_1'")
    )
    assert rows[0]["ended_at"] is not None
    # and they undo cleanly
    command.downgrade(alembic_config(database), "0009_entry_requested_at")
    tables = asyncio.run(
        _run(url, "SELECT count(*) FROM pg_tables WHERE tablename IN ('dnc_enabled_changes', "
                  "'shared_list_subscription_periods', 'shared_list_deletions')")
    )  # fmt: skip
    assert tables[0][0] == 0
    upgrade(database)
