"""The receipts' store (infra/db/receipts.py) against the real Postgres: concurrent receipts
share their commits, every one is kept and read back unchanged, and one receipt that cannot be
written does not take the others of its transaction down with it."""

import asyncio
import json
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit
from uuid import UUID, uuid4

import pytest

from domain.errors import Unavailable
from domain.model import CheckReceipt
from infra.db.receipts import SqlReceiptStore
from infra.settings import Settings
from tests.support.helpers import Org, free_port, resources_for, sql


def receipt(organization_id: UUID, asked_by: UUID | None, size: int = 10) -> CheckReceipt:
    answer = json.dumps({"data": {"results": [{"n": i} for i in range(size)]}}).encode()
    return CheckReceipt(
        id=uuid4(),
        organization_id=organization_id,
        asked_by=asked_by,
        asked_at=datetime.now(UTC),
        numbers=size,
        question=b'{"method":"POST"}',
        answer=answer,
        versions=b'{"answeredFrom":"redis"}',
    )


async def test_concurrent_receipts_share_commits_and_each_is_kept(
    settings: Settings, org: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    async with resources_for(settings) as resources:
        store = SqlReceiptStore(resources.sessions)
        transactions: list[int] = []
        insert = store._insert

        async def counted(rows: list[dict[str, Any]]) -> None:
            transactions.append(len(rows))
            await insert(rows)

        monkeypatch.setattr(store, "_insert", counted)
        receipts = [receipt(org.id, org.admin_id, size) for size in range(1, 200)]
        receipts.append(receipt(org.id, None, 50_000))  # a large one, compressed in a thread
        await asyncio.gather(*(store.add(r) for r in receipts))
        assert sum(transactions) == len(receipts)
        assert len(transactions) < len(receipts) / 10, transactions
        for kept in receipts:
            found = await store.get(org.id, kept.id)
            assert found is not None
            assert (found.answer, found.question, found.numbers) == (
                kept.answer,
                kept.question,
                kept.numbers,
            )
            assert json.loads(found.versions) == {"answeredFrom": "redis", "sharedLists": []}
            assert await store.get(uuid4(), kept.id) is None
    rows = await sql(settings, "SELECT count(*) AS n FROM check_receipts")
    assert rows[0]["n"] == len(receipts)


async def test_one_receipt_that_fails_does_not_fail_the_others(
    settings: Settings, org: Org
) -> None:
    async with resources_for(settings) as resources:
        store = SqlReceiptStore(resources.sessions, writes_in_flight=1)
        good = [receipt(org.id, org.admin_id) for _ in range(20)]
        bad = receipt(uuid4(), None)  # no such organization: its INSERT fails
        outcomes = await asyncio.gather(
            *(store.add(r) for r in [*good[:10], bad, *good[10:]]), return_exceptions=True
        )
        assert [type(o) for o in outcomes].count(Unavailable) == 1
        assert isinstance(outcomes[10], Unavailable)
        for kept in good:
            assert await store.get(org.id, kept.id) is not None
        assert await store.get(bad.organization_id, bad.id) is None


async def test_postgres_unreachable_is_unavailable(settings: Settings, org: Org) -> None:
    url = urlsplit(settings.database_url)
    unreachable = url._replace(netloc=f"{url.username}@127.0.0.1:{free_port()}").geturl()
    async with resources_for(replace(settings, database_url=unreachable)) as resources:
        with pytest.raises(Unavailable, match="receipt could not be stored"):
            await resources.receipts.add(receipt(org.id, None))
