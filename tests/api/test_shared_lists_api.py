"""Shared lists through the API (API.md, "Shared lists (registries) and exemptions"): the
organization sees its subscriptions with counts and freshness, its checks name the registry
that blocks a number, and no write path of any organization reaches a shared list."""

from datetime import timedelta

from domain.time import utcnow
from domain.usecases.shared_lists import subscribe
from tests.support.helpers import (
    Client,
    Org,
    add_body,
    assert_error,
    body,
    resources_for,
    seed_call,
)
from tests.support.shared import load, shared_list

A, B, C = "12125550100", "12125550101", "12125550102"


async def registry_for(org: Org, *numbers: str, days_old: int = 0) -> str:
    """A registry holding ``numbers``, downloaded ``days_old`` days ago, ``org`` subscribed."""
    async with resources_for(org.settings) as resources:
        list_id = await shared_list(resources, f"Registry {numbers[0] if numbers else '-'}")
        if numbers:
            await load(resources, list_id, numbers, utcnow() - timedelta(days=days_old))
        await subscribe(resources.uow(), resources.mirror, org.id, list_id)
    return list_id


async def test_the_subscriptions_show_counts_and_freshness(client: Client, org: Org) -> None:
    response = await client.get("/api/dnc/subscriptions", headers=org.headers)
    assert body(response)["data"] == {"items": []}
    fresh = await registry_for(org, A, B)
    stale = await registry_for(org, C, days_old=40)
    items = body(await client.get("/api/dnc/subscriptions", headers=org.headers))["data"]["items"]
    assert [(i["listId"], i["kind"], i["count"], i["stale"]) for i in items] == [
        (fresh, "registry", 2, False),
        (stale, "registry", 1, True),
    ]
    assert set(items[0]) == {
        "listId", "name", "kind", "count", "refreshedAt", "freshUntil", "maxAgeDays", "stale"
    }  # fmt: skip
    assert items[0]["maxAgeDays"] == 31


async def test_checks_name_the_registry_and_a_stale_one_fails_closed(
    client: Client, org: Org
) -> None:
    fresh = await registry_for(org, A)
    stale = await registry_for(org, B, days_old=40)
    response = await client.post(
        "/api/dnc/check", json={"phoneNumbers": [A, B, C, "+1 212 555 0100"]}, headers=org.headers
    )
    results = body(response)["data"]["results"]
    assert [(r["blocked"], r["reason"], r["lists"]) for r in results] == [
        (True, "registry", [fresh, stale]),
        (True, "registry", [stale]),
        (True, "registry_stale", [stale]),
        (True, "registry", [fresh, stale]),
    ]
    assert body(response)["data"]["blockedCount"] == 4
    single = await client.get("/api/dnc/check", params={"phoneNumber": C}, headers=org.headers)
    assert body(single)["data"]["blocked"] is True
    assert body(single)["data"]["reason"] == "registry_stale"


async def test_no_organization_can_write_a_shared_list(
    client: Client, org: Org, other_org: Org
) -> None:
    list_id = await registry_for(org, A)
    headers = org.headers
    await seed_call(client, org, phone=B)
    writes = [
        await client.post(
            "/api/dnc/add", json=add_body(B, listId=list_id), headers=headers
        ),
        await client.post(
            "/api/dnc/bulk-add", json={"numbers": [{"phoneNumber": B}], "listId": list_id},
            headers=headers,
        ),
        await client.post(
            "/api/dnc/remove", json={"phoneNumber": A, "reason": "x", "listId": list_id},
            headers=headers,
        ),
        await client.post(
            f"/api/dnc/import?listId={list_id}",
            content=b"phoneNumber\n" + B.encode() + b"\n",
            headers={**headers, "Content-Type": "text/csv"},
        ),
        await client.delete(f"/api/dnc/lists/{list_id}", headers=headers),
        await client.delete(f"/api/dnc/lists/{list_id}", headers=other_org.headers),
    ]  # fmt: skip
    for response in writes:
        assert response.status_code in (400, 403, 404), body(response)
        assert body(response)["status"] is False
    # nothing changed: A is still on it, B never got there
    response = await client.post("/api/dnc/check", json={"phoneNumbers": [A, B]}, headers=headers)
    assert [r["reason"] for r in body(response)["data"]["results"]] == ["registry", None]
    read = await client.get(f"/api/dnc/lists/{list_id}", headers=headers)
    assert_error(read, 404)
    # and naming it as a list to check is a 400 (shared lists apply by subscription)
    response = await client.post(
        "/api/dnc/check", json={"phoneNumbers": [A], "lists": [list_id]}, headers=headers
    )
    assert_error(response, 400, "Unknown list id")


async def test_another_organizations_subscriptions_are_its_own(
    client: Client, org: Org, other_org: Org
) -> None:
    await registry_for(org, A)
    response = await client.get("/api/dnc/subscriptions", headers=other_org.headers)
    assert body(response)["data"] == {"items": []}
    response = await client.post(
        "/api/dnc/check", json={"phoneNumbers": [A]}, headers=other_org.headers
    )
    assert body(response)["data"]["results"][0]["blocked"] is False
