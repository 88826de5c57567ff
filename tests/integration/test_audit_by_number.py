"""API.md, "Evidence": every mutation, each number of a bulk add or an import included, can
be found in the audit log by its phone number (``GET /api/dnc/audit?phoneNumber=…``).

The check is the same for every path: a number's history (``GET
/api/dnc/entries/{n}/history``) lists every entry it has had; each must have exactly one
``dnc.add`` row and, once taken off its list, exactly one removal row (``dnc.remove``, or
``dnc.expire`` when its expiry retired it), found by asking the audit log for the number as
a user would write it, on the entry's list. Each path is driven through the API (or the
CLI) the way a client or an operator does: add, remove, delete by id, bulk add, CSV import
at once and in the worker, expiry by the worker, re-listing a number whose entry expired
(by add, bulk add and import), and deleting a named list."""

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from domain.usecases.entries import expire_due
from infra.settings import Settings
from tests.support.helpers import (
    Client,
    Org,
    add_body,
    body,
    mirror_for,
    run_worker,
    seed_call,
    uow_for,
)
from tests.support.processes import DNC, env_of

CSV = {"Content-Type": "text/csv"}
REMOVALS = {"expired": "dnc.expire"}  # any other removal reason is a dnc.remove


async def audit_of(
    client: Client, org: Org, number: str, list_id: str | None = None, **params: str
) -> list[dict[str, Any]]:
    """Every audit row the log gives for the number, as written, on the list (default: the
    org-wide one), followed page by page."""
    query: dict[str, str] = {"phoneNumber": number, "limit": "1000", **params}
    if list_id is not None:
        query["listId"] = list_id
    rows: list[dict[str, Any]] = []
    while True:
        response = await client.get("/api/dnc/audit", params=query, headers=org.headers)
        assert response.status_code == 200, response.text
        data = body(response)["data"]
        rows += data["items"]
        if not data.get("nextCursor"):
            return rows
        query["cursor"] = str(data["nextCursor"])


async def history_of(client: Client, org: Org, number: str) -> list[dict[str, Any]]:
    response = await client.get(f"/api/dnc/entries/{number}/history", headers=org.headers)
    assert response.status_code == 200, response.text
    entries: list[dict[str, Any]] = body(response)["data"]["entries"]
    return entries


async def assert_audited(client: Client, org: Org, number: str, entries: int) -> None:
    """The number has had this many entries, and each one's listing and removal (if it was
    removed) is in the audit log once, found by the number as given, on the entry's list."""
    history = await history_of(client, org, number)
    assert len(history) == entries, history
    for entry in history:
        list_id = entry["listId"]
        rows = await audit_of(client, org, number, list_id)
        assert {row["phoneNumber"] for row in rows} <= {entry["phoneNumber"]}
        mine = sorted(row["action"] for row in rows if row["entityId"] == entry["id"])
        expected = ["dnc.add"]
        if not entry["active"]:
            expected.append(REMOVALS.get(entry["removalReason"], "dnc.remove"))
        assert mine == sorted(expected), (number, entry, rows)


def soon(seconds: float = 1.0) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).isoformat()


async def bulk_add(
    client: Client, org: Org, items: list[dict[str, Any]], **extra: Any
) -> list[str]:
    response = await client.post(
        "/api/dnc/bulk-add", json={"numbers": items, **extra}, headers=org.headers
    )
    assert response.status_code == 200, response.text
    return [r["outcome"] for r in body(response)["data"]["results"]]


async def upload(client: Client, org: Org, text: str, **params: str) -> httpx.Response:
    return await client.post(
        "/api/dnc/import", content=text.encode(), params=params, headers={**org.headers, **CSV}
    )


async def new_list(client: Client, org: Org, name: str) -> str:
    response = await client.post("/api/dnc/lists", json={"name": name}, headers=org.headers)
    assert response.status_code == 201, response.text
    list_id: str = body(response)["data"]["id"]
    return list_id


async def test_add_remove_and_delete_by_id(client: Client, org: Org) -> None:
    await seed_call(client, org, request_uuid="req-1")
    assert (await client.post("/api/dnc/add", json=add_body(), headers=org.headers)).is_success
    response = await client.post(
        "/api/dnc/remove",
        json={"phoneNumber": "+1 212.555.1234", "reason": "asked twice"},
        headers=org.headers,
    )
    assert response.status_code == 200, response.text
    await seed_call(client, org, request_uuid="req-2")
    added = await client.post(
        "/api/dnc/add", json=add_body(request_uuid="req-2"), headers=org.headers
    )
    assert added.status_code == 200
    entry = body(await client.get("/api/dnc/entries/2125551234", headers=org.headers))["data"]
    response = await client.delete(f"/api/dnc/delete/{entry['id']}", headers=org.headers)
    assert response.status_code == 200, response.text
    await assert_audited(client, org, "(212) 555-1234", entries=2)
    removal = [r for r in await audit_of(client, org, "12125551234") if r["action"] == "dnc.remove"]
    assert [r["after"]["reason"] for r in removal] == [None, "asked twice"]  # newest first


async def test_each_number_of_a_bulk_add_on_its_own_list(client: Client, org: Org) -> None:
    campaign = await new_list(client, org, "Spring campaign")
    outcomes = await bulk_add(
        client,
        org,
        [
            {"phoneNumber": "+1 (212) 555-0101", "type": "complaint"},
            {"phoneNumber": "1-212-555-0102", "listId": campaign},
            {"phoneNumber": "212.555.0103", "expiresAt": soon(3600)},
            {"phoneNumber": "2125550101"},  # the same number again: one entry
            {"phoneNumber": "12125550101", "listId": campaign},  # on another list: its own
            {"phoneNumber": "not a number"},
        ],
    )
    assert outcomes == ["added", "added", "added", "duplicate", "added", "invalid"]
    await assert_audited(client, org, "2125550101", entries=2)
    await assert_audited(client, org, "+12125550102", entries=1)
    await assert_audited(client, org, "+1 212 555 0103", entries=1)
    on_campaign = await audit_of(client, org, "2125550101", campaign)
    assert [(r["action"], r["after"]["source"]) for r in on_campaign] == [("dnc.add", "bulk")]
    assert await audit_of(client, org, "2125550104") == []  # only what happened is there


async def test_the_number_as_a_sloppy_client_sends_it(client: Client, org: Org) -> None:
    """An unencoded ``+`` in the query (read as a space) still finds the number."""
    assert await bulk_add(client, org, [{"phoneNumber": "+44 20 7946 0958"}]) == ["added"]
    response = await client.get(
        "/api/dnc/audit?phoneNumber=+44 20 7946 0958&action=dnc.add", headers=org.headers
    )
    assert response.status_code == 200, response.text
    assert [r["phoneNumber"] for r in body(response)["data"]["items"]] == ["442079460958"]


async def test_each_number_of_an_import_at_once_and_from_the_cli(
    settings: Settings, client: Client, org: Org, tmp_path: Path
) -> None:
    response = await upload(
        client, org, "phoneNumber,type\n+1 212 555 0201,complaint\n2125550202,\n12125550201,\n"
    )
    assert response.status_code == 200, response.text
    assert body(response)["data"]["added"] == 2
    source = tmp_path / "list.csv"
    source.write_text("phoneNumber\n2125550203\n2125550202\n")
    done = await asyncio.create_subprocess_exec(
        DNC, "import", "--org", str(org.id), str(source), env=env_of(settings),
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, stderr = await done.communicate()
    assert done.returncode == 0, stderr
    for number in ("2125550201", "2125550202", "2125550203"):
        await assert_audited(client, org, number, entries=1)
    [by_cli] = await audit_of(client, org, "2125550203")
    assert (by_cli["after"]["source"], by_cli["actorUserId"]) == ("import", None)


async def test_each_number_of_a_large_import_in_the_worker(
    settings: Settings, client: Client, org: Org
) -> None:
    numbers = [f"1212{n:07d}" for n in range(3_000_000, 3_060_000)]
    response = await upload(client, org, "phoneNumber\n" + "\n".join(numbers) + "\n")
    assert response.status_code == 202, response.text
    await run_worker(settings)
    for number in (numbers[0], numbers[31_337], numbers[-1]):
        await assert_audited(client, org, f"+{number}", entries=1)
    added = body(
        await client.get(
            "/api/dnc/audit", params={"action": "dnc.add", "limit": "1"}, headers=org.headers
        )
    )["data"]
    assert added["total"] == len(numbers)


async def test_expiry_by_the_worker(settings: Settings, client: Client, org: Org) -> None:
    assert await bulk_add(client, org, [{"phoneNumber": "2125550301", "expiresAt": soon()}]) == [
        "added"
    ]
    await asyncio.sleep(1.2)
    async with uow_for(settings) as uow, mirror_for(settings) as mirror:
        assert await expire_due(uow, mirror) == 1  # the worker's expiry round
    [entry] = await history_of(client, org, "2125550301")
    assert (entry["active"], entry["removalReason"]) == (False, "expired")
    await assert_audited(client, org, "2125550301", entries=1)


async def test_a_number_listed_again_after_its_entry_expired(
    client: Client, org: Org, tmp_path: Path
) -> None:
    """The worker has not retired the expired entries yet when each path lists the number
    again: the write retires the old entry itself. That retirement is an expiry too, and is
    in the log like the worker's."""
    campaign = await new_list(client, org, "Retired on write")
    items = [
        {"phoneNumber": "2125551234"},  # re-listed by add (the seeded call's number)
        {"phoneNumber": "2125550402"},  # by bulk add
        {"phoneNumber": "2125550403"},  # by import
        {"phoneNumber": "2125550404", "listId": campaign},  # by import, on a named list
    ]
    expiring = [{**item, "expiresAt": soon()} for item in items]
    assert await bulk_add(client, org, expiring) == ["added"] * 4
    await asyncio.sleep(1.2)

    await seed_call(client, org)
    assert (await client.post("/api/dnc/add", json=add_body(), headers=org.headers)).is_success
    assert await bulk_add(client, org, [{"phoneNumber": "2125550402"}]) == ["added"]
    assert (await upload(client, org, "phoneNumber\n2125550403\n")).status_code == 200
    response = await upload(client, org, "phoneNumber\n2125550404\n", listId=campaign)
    assert response.status_code == 200, response.text

    for number in ("2125551234", "2125550402", "2125550403", "2125550404"):
        await assert_audited(client, org, number, entries=2)


async def test_deleting_a_named_list_audits_each_number(client: Client, org: Org) -> None:
    campaign = await new_list(client, org, "Summer campaign")
    numbers = [f"212555{n:04d}" for n in range(500, 520)]
    outcomes = await bulk_add(client, org, [{"phoneNumber": n} for n in numbers], listId=campaign)
    assert outcomes == ["added"] * len(numbers)
    assert await bulk_add(client, org, [{"phoneNumber": numbers[0]}]) == ["added"]  # org-wide
    response = await client.delete(f"/api/dnc/lists/{campaign}", headers=org.headers)
    assert response.status_code == 200, response.text

    for number in numbers:
        await assert_audited(client, org, number, entries=2 if number == numbers[0] else 1)
    [removal] = [
        r for r in await audit_of(client, org, numbers[7], campaign) if r["action"] == "dnc.remove"
    ]
    assert removal["after"]["reason"] == "list deleted"
    assert removal["actorUserId"] == str(org.admin_id)
    org_wide = await audit_of(client, org, numbers[0])  # the org-wide entry was not touched
    assert [r["action"] for r in org_wide] == ["dnc.add"]


async def test_the_worker_and_a_bulk_add_retiring_the_same_expired_entries_at_once(
    settings: Settings, client: Client, org: Org
) -> None:
    """The worker's expiry round and a bulk add that lists the same numbers again race for
    the same expired entries: each is retired once, and audited once, by whichever won."""
    numbers = [f"212555{n:04d}" for n in range(600, 800)]
    expiring = [{"phoneNumber": n, "expiresAt": soon()} for n in numbers]
    assert await bulk_add(client, org, expiring) == ["added"] * len(numbers)
    await asyncio.sleep(1.2)

    async def expire() -> int:
        async with uow_for(settings) as uow, mirror_for(settings) as mirror:
            return await expire_due(uow, mirror, limit=50)  # in rounds, as the worker does

    async def worker() -> None:
        while await expire():
            pass

    async def relist() -> list[str]:
        return await bulk_add(client, org, [{"phoneNumber": n} for n in reversed(numbers)])

    _, outcomes = await asyncio.gather(worker(), relist())
    assert outcomes == ["added"] * len(numbers)
    expired = await client.get(
        "/api/dnc/audit", params={"action": "dnc.expire", "limit": "1"}, headers=org.headers
    )
    assert body(expired)["data"]["total"] == len(numbers)
    for number in numbers[::20]:
        await assert_audited(client, org, number, entries=2)
