"""Managing the list: browse and search, bulk add, expiry, tombstones, the audit log."""

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import pytest

from domain.usecases.entries import expire_due
from infra.settings import Settings
from tests.support.helpers import (
    Client,
    Org,
    add_body,
    assert_error,
    body,
    is_blocked,
    mirror_for,
    seed_call,
    uow_for,
)


def nanp(i: int) -> str:
    return f"1212555{i:04d}"


async def bulk(client: Client, org: Org, numbers: list[object]) -> dict[str, object]:
    response = await client.post(
        "/api/dnc/bulk-add", json={"numbers": numbers}, headers=org.headers
    )
    assert response.status_code == 200, response.text
    data: dict[str, object] = body(response)["data"]
    return data


async def test_bulk_add_reports_each_item_in_order(client: Client, org: Org) -> None:
    await bulk(client, org, [{"phoneNumber": nanp(1)}])
    data = await bulk(
        client,
        org,
        [
            {"phoneNumber": "+1 212 555 0002", "type": "complaint"},
            {"phoneNumber": nanp(1)},  # listed already
            {"phoneNumber": "12345"},
            {"phoneNumber": "212-555-0002"},  # the first item again
            {"phoneNumber": nanp(3), "expiresAt": "2020-01-01T00:00:00Z"},
        ],
    )
    invalid_number = (
        "phoneNumber '12345' is not a valid phone number; "
        "send it in international form with its country code, e.g. +12125551234"
    )
    assert data["results"] == [
        {"phoneNumber": "+1 212 555 0002", "normalized": nanp(2), "outcome": "added"},
        {"phoneNumber": nanp(1), "normalized": nanp(1), "outcome": "duplicate"},
        {"phoneNumber": "12345", "normalized": None, "outcome": "invalid", "error": invalid_number},
        {"phoneNumber": "212-555-0002", "normalized": nanp(2), "outcome": "duplicate"},
        {
            "phoneNumber": nanp(3),
            "normalized": None,
            "outcome": "invalid",
            "error": "expiresAt must be in the future",
        },
    ]
    assert (data["added"], data["duplicate"], data["invalid"]) == (1, 2, 2)
    assert await is_blocked(client, org, nanp(2)) is True
    entry = body(await client.get(f"/api/dnc/entries/{nanp(2)}", headers=org.headers))["data"]
    assert (entry["source"], entry["type"]) == ("bulk", "complaint")


async def test_bulk_add_limits(client: Client, org: Org) -> None:
    too_many = [{"phoneNumber": nanp(i % 9000)} for i in range(10_001)]
    response = await client.post(
        "/api/dnc/bulk-add", json={"numbers": too_many}, headers=org.headers
    )
    assert_error(response, 400, "10000")
    response = await client.post("/api/dnc/bulk-add", json={"numbers": []}, headers=org.headers)
    assert_error(response, 400, "at least one")
    data = await bulk(client, org, [{"phoneNumber": nanp(i)} for i in range(10_000)])
    assert data["added"] == 10_000
    settings = body(await client.get("/api/dnc/settings", headers=org.headers))["data"]
    assert settings["count"] == 10_000


async def test_list_pages_newest_first_with_totals(client: Client, org: Org) -> None:
    for i in range(5):
        await bulk(client, org, [{"phoneNumber": nanp(i), "type": "t"}])
    response = await client.get(
        "/api/dnc/list", params={"page": 2, "limit": 2}, headers=org.headers
    )
    data = body(response)["data"]
    assert [e["phoneNumber"] for e in data["items"]] == [nanp(2), nanp(1)]
    assert (data["page"], data["limit"], data["total"]) == (2, 2, 5)
    assert set(data["items"][0]) >= {
        "id", "phoneNumber", "type", "source", "batchId", "requestUUID", "callRecording",
        "transcription", "addedBy", "createdAt", "expiresAt",
    }  # fmt: skip


async def test_keyset_paging_walks_the_whole_list_once(client: Client, org: Org) -> None:
    await bulk(client, org, [{"phoneNumber": nanp(i)} for i in range(25)])  # one created_at
    seen: list[str] = []
    params: dict[str, str | int] = {"limit": 10}
    while True:
        data = body(await client.get("/api/dnc/list", params=params, headers=org.headers))["data"]
        seen += [e["phoneNumber"] for e in data["items"]]
        if not data["nextCursor"]:
            break
        params = {"limit": 10, "cursor": data["nextCursor"]}
    assert sorted(seen) == [nanp(i) for i in range(25)]
    assert len(seen) == 25


async def test_search_matches_number_type_and_request_uuid(client: Client, org: Org) -> None:
    await seed_call(client, org, request_uuid="call-XYZ-1")
    await client.post("/api/dnc/add", json=add_body(request_uuid="call-XYZ-1"), headers=org.headers)
    await bulk(client, org, [{"phoneNumber": "+44 20 7946 0958", "type": "complaint_100%"}])

    async def search(text: str) -> list[str]:
        response = await client.get("/api/dnc/list", params={"search": text}, headers=org.headers)
        return [e["phoneNumber"] for e in body(response)["data"]["items"]]

    assert await search("555-1234") == ["12125551234"]
    assert await search("xyz") == ["12125551234"]
    assert await search("Complaint") == ["442079460958"]
    assert await search("100%") == ["442079460958"]
    assert await search("1%0") == []  # "%" is a character here, not a wildcard
    assert await search("nothing") == []


@pytest.mark.parametrize(
    ("params", "fragment"),
    [({"limit": 0}, "limit"), ({"limit": 1001}, "limit"), ({"page": 0}, "page"),
     ({"cursor": "garbage"}, "cursor"), ({"page": "x"}, "page")],
)  # fmt: skip
async def test_list_rejects_bad_paging(
    client: Client, org: Org, params: dict[str, str | int], fragment: str
) -> None:
    assert_error(
        await client.get("/api/dnc/list", params=params, headers=org.headers), 400, fragment
    )


async def test_a_removed_entry_is_a_tombstone_that_keeps_its_evidence(
    client: Client, org: Org, settings: Settings
) -> None:
    await seed_call(client, org)
    await client.post("/api/dnc/add", json=add_body(), headers=org.headers)
    await client.post(
        "/api/dnc/remove",
        json={"phoneNumber": "12125551234", "reason": "typo"},
        headers=org.headers,
    )
    assert body(await client.get("/api/dnc/list", headers=org.headers))["data"]["total"] == 0
    connection = await asyncpg.connect(settings.database_url)
    try:
        row = await connection.fetchrow("SELECT * FROM dnc_entries")
    finally:
        await connection.close()
    assert row is not None
    assert row["removed_at"] is not None
    assert (row["removal_reason"], row["removed_by_user_id"]) == ("typo", org.admin_id)
    assert row["transcription"]
    assert row["call_recording"]


async def test_an_expired_entry_stops_blocking_and_can_be_listed_again(
    client: Client, org: Org, settings: Settings
) -> None:
    soon = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    await seed_call(client, org)
    response = await client.post("/api/dnc/add", json=add_body(expiresAt=soon), headers=org.headers)
    assert response.status_code == 200
    assert await is_blocked(client, org, "12125551234") is True
    await asyncio.sleep(1.2)
    async with uow_for(settings) as uow, mirror_for(settings) as mirror:
        assert await expire_due(uow, mirror) == 1  # the worker's purge
    assert await is_blocked(client, org, "12125551234") is False
    audit = body(
        await client.get("/api/dnc/audit", params={"action": "dnc.expire"}, headers=org.headers)
    )
    assert [i["phoneNumber"] for i in audit["data"]["items"]] == ["12125551234"]
    await seed_call(client, org, request_uuid="req-2")
    again = await client.post(
        "/api/dnc/add", json=add_body(request_uuid="req-2"), headers=org.headers
    )
    assert again.status_code == 200


async def test_an_expiry_in_the_past_is_refused(client: Client, org: Org) -> None:
    await seed_call(client, org)
    response = await client.post(
        "/api/dnc/add", json=add_body(expiresAt="2020-01-01T00:00:00Z"), headers=org.headers
    )
    assert_error(response, 400, "expiresAt must be in the future")


async def test_the_audit_log_filters_and_pages(client: Client, org: Org) -> None:
    member_id, member_token = await org.add_user("member")
    member = {"Authorization": f"Bearer {member_token}"}
    await seed_call(client, org)
    await client.post("/api/dnc/add", json=add_body(), headers=org.headers)
    await client.post("/api/dnc/enable-disable", json={"enable": False}, headers=org.headers)
    await client.post("/api/dnc/enable-disable", json={"enable": True}, headers=org.headers)
    await bulk(client, org, [{"phoneNumber": nanp(1)}])
    await client.post("/api/dnc/remove", json={"phoneNumber": "12125551234"}, headers=member)

    async def audit(**params: str | int) -> dict[str, object]:
        response = await client.get("/api/dnc/audit", params=params, headers=org.headers)
        assert response.status_code == 200, response.text
        data: dict[str, object] = body(response)["data"]
        return data

    everything = await audit()
    actions = [i["action"] for i in everything["items"]]  # type: ignore[attr-defined]
    assert actions[:6] == [
        "dnc.remove", "dnc.bulk_add", "dnc.add", "dnc.enable", "dnc.disable", "dnc.add",
    ]  # fmt: skip
    assert everything["total"] == len(actions)
    by_number = await audit(phoneNumber="+1 212 555 1234")
    assert [i["action"] for i in by_number["items"]] == ["dnc.remove", "dnc.add"]  # type: ignore[attr-defined]
    by_actor = await audit(actor=str(member_id))
    assert [i["action"] for i in by_actor["items"]] == ["dnc.remove"]  # type: ignore[attr-defined]
    disable = (await audit(action="dnc.disable"))["items"][0]  # type: ignore[index]
    assert (disable["before"], disable["after"]) == ({"enabled": True}, {"enabled": False})
    assert (await audit(since="2999-01-01T00:00:00Z"))["total"] == 0
    first = await audit(limit=2)
    second = await audit(limit=2, cursor=str(first["nextCursor"]))
    assert [i["id"] for i in second["items"]] == [i["id"] for i in everything["items"]][2:4]  # type: ignore[attr-defined]
    assert_error(
        await client.get(
            "/api/dnc/audit", params={"since": "2026-01-01T00:00:00"}, headers=org.headers
        ),
        400,
        "timezone",
    )


async def test_cursor_pages_skip_the_count(client: Client, org: Org) -> None:
    await bulk(client, org, [{"phoneNumber": nanp(i)} for i in range(3)])
    first = body(await client.get("/api/dnc/list", params={"limit": 1}, headers=org.headers))[
        "data"
    ]
    assert first["total"] == 3
    params = {"limit": 1, "cursor": first["nextCursor"]}
    second = body(await client.get("/api/dnc/list", params=params, headers=org.headers))["data"]
    assert second["total"] is None
    assert len(second["items"]) == 1
