"""Lists and prefix rules through the API (API.md, "Lists and prefix rules"): lists as a
resource, ``listId`` everywhere a list is meant, checks across lists with the lists that block
each number, prefix rules, and another organization's list ids read as unknown."""

from typing import Any

import httpx
import pytest

from tests.support.helpers import Client, Org, add_body, assert_error, body, seed_call

A, B, C = "12125550100", "12125550101", "442079460958"


async def new_list(client: Client, org: Org, name: str = "Spring campaign") -> str:
    response = await client.post("/api/dnc/lists", json={"name": name}, headers=org.headers)
    assert response.status_code == 201, body(response)
    list_id: str = body(response)["data"]["id"]
    return list_id


async def bulk(client: Client, org: Org, numbers: list[Any], **extra: Any) -> list[str]:
    response = await client.post(
        "/api/dnc/bulk-add", json={"numbers": numbers, **extra}, headers=org.headers
    )
    assert response.status_code == 200, body(response)
    return [r["outcome"] for r in body(response)["data"]["results"]]


async def check(client: Client, org: Org, numbers: list[str], lists: list[str]) -> list[Any]:
    response = await client.post(
        "/api/dnc/check", json={"phoneNumbers": numbers, "lists": lists}, headers=org.headers
    )
    assert response.status_code == 200, body(response)
    return [(r["blocked"], r["reason"], r["lists"]) for r in body(response)["data"]["results"]]


async def get_check(client: Client, org: Org, number: str, lists: str | None) -> httpx.Response:
    params = {"phoneNumber": number, **({"lists": lists} if lists is not None else {})}
    return await client.get("/api/dnc/check", params=params, headers=org.headers)


async def test_the_org_wide_list_comes_first_and_named_lists_are_a_resource(
    client: Client, org: Org
) -> None:
    named = await new_list(client, org)
    await bulk(client, org, [{"phoneNumber": A}, {"phoneNumber": B}], listId=named)
    response = await client.get("/api/dnc/lists", headers=org.headers)
    items = body(response)["data"]["items"]
    assert [(i["id"], i["kind"], i["count"]) for i in items] == [
        ("default", "org", 0),
        (named, "campaign", 2),
    ]
    assert set(items[1]) == {"id", "name", "kind", "description", "count", "createdAt"}
    one = body(await client.get(f"/api/dnc/lists/{named}", headers=org.headers))["data"]
    assert (one["name"], one["count"]) == ("Spring campaign", 2)
    response = await client.post(
        "/api/dnc/lists", json={"name": "spring CAMPAIGN"}, headers=org.headers
    )
    assert_error(response, 409, "exists already")
    for bad in ({}, {"name": ""}, {"name": 7}, {"name": "a\nb"}):
        response = await client.post("/api/dnc/lists", json=bad, headers=org.headers)
        assert_error(response, 400)
    assert_error(await client.get("/api/dnc/lists/nope", headers=org.headers), 404, "No list")


async def test_deleting_a_list_unblocks_its_numbers_keeps_them_and_the_org_wide_list_stays(
    client: Client, org: Org
) -> None:
    named = await new_list(client, org)
    await bulk(client, org, [{"phoneNumber": A}], listId=named)
    assert await check(client, org, [A], [named]) == [(True, "dnc", [named])]
    response = await client.delete(f"/api/dnc/lists/{named}", headers=org.headers)
    assert response.status_code == 200, body(response)
    assert body(response)["data"]["id"] == named
    assert_error(await client.delete(f"/api/dnc/lists/{named}", headers=org.headers), 404)
    response = await client.delete("/api/dnc/lists/default", headers=org.headers)
    assert_error(response, 400, "org-wide list cannot be deleted")
    assert_error(await get_check(client, org, A, named), 400, f"Unknown list id '{named}'")
    response = await client.get("/api/dnc/audit", params={"listId": named}, headers=org.headers)
    actions = [i["action"] for i in body(response)["data"]["items"]]
    # the new list's mirror is built at once (audited as a rebuild of that list)
    assert actions == [
        "list.delete", "dnc.remove", "dnc.bulk_add", "dnc.add", "cache.rebuild", "list.create"
    ]  # fmt: skip  # its number is found by itself: taken off (dnc.remove) with the list


async def test_already_listed_means_on_that_list(client: Client, org: Org) -> None:
    named = await new_list(client, org)
    await seed_call(client, org, phone=A)
    response = await client.post("/api/dnc/add", json=add_body(A), headers=org.headers)
    assert response.status_code == 200, body(response)
    await seed_call(client, org, request_uuid="req-2", phone=A)
    response = await client.post(
        "/api/dnc/add", json=add_body(A, request_uuid="req-2", listId=named), headers=org.headers
    )
    assert response.status_code == 200, body(response)
    response = await client.post(
        "/api/dnc/add", json=add_body(A, request_uuid="req-2", listId=named), headers=org.headers
    )
    assert_error(response, 400, f"already on list '{named}'")
    assert await check(client, org, [A], [named]) == [(True, "dnc", ["default", named])]
    entry = await client.get(f"/api/dnc/entries/{A}", params={"listId": named}, headers=org.headers)
    assert body(entry)["data"]["listId"] == named
    assert body(entry)["data"]["requestUUID"] == "req-2"  # the evidence of its own call


async def test_bulk_items_may_name_their_own_list_and_an_unknown_one_adds_nothing(
    client: Client, org: Org
) -> None:
    first, second = await new_list(client, org, "one"), await new_list(client, org, "two")
    outcomes = await bulk(
        client,
        org,
        [{"phoneNumber": A}, {"phoneNumber": A, "listId": second}, {"phoneNumber": B}],
        listId=first,
    )
    assert outcomes == ["added", "added", "added"]
    assert await check(client, org, [A, B], [first, second]) == [
        (True, "dnc", [first, second]),
        (True, "dnc", [first]),
    ]
    response = await client.post(
        "/api/dnc/bulk-add",
        json={"numbers": [{"phoneNumber": C}, {"phoneNumber": C, "listId": "nope"}]},
        headers=org.headers,
    )
    assert_error(response, 400, "Unknown list id 'nope'")
    assert await check(client, org, [C], []) == [(False, None, [])]


async def test_list_entries_remove_and_export_take_the_list(client: Client, org: Org) -> None:
    named = await new_list(client, org)
    await bulk(client, org, [{"phoneNumber": A}, {"phoneNumber": B}], listId=named)
    await bulk(client, org, [{"phoneNumber": C}])
    page = body(await client.get("/api/dnc/list", params={"listId": named}, headers=org.headers))
    assert sorted(i["phoneNumber"] for i in page["data"]["items"]) == [A, B]
    assert page["data"]["total"] == 2
    org_wide = body(await client.get("/api/dnc/list", headers=org.headers))["data"]["items"]
    assert [i["phoneNumber"] for i in org_wide] == [C]
    response = await client.post(
        "/api/dnc/remove", json={"phoneNumber": A, "listId": named}, headers=org.headers
    )
    assert response.status_code == 200, body(response)
    response = await client.post("/api/dnc/remove", json={"phoneNumber": A}, headers=org.headers)
    assert_error(response, 404, "not on the DNC list")
    export = await client.get("/api/dnc/export", params={"listId": named}, headers=org.headers)
    assert export.status_code == 200, export.text
    assert [line.split(",")[0] for line in export.text.splitlines()[1:]] == [B]
    for path in ("/api/dnc/list", "/api/dnc/export", f"/api/dnc/entries/{B}"):
        response = await client.get(path, params={"listId": "nope"}, headers=org.headers)
        assert_error(response, 400, "Unknown list id 'nope'")


async def test_an_import_goes_to_its_list(client: Client, org: Org) -> None:
    named = await new_list(client, org)
    csv = f"phoneNumber\n{A}\n{B}\n".encode()
    headers = {**org.headers, "Content-Type": "text/csv"}
    response = await client.post(
        "/api/dnc/import", content=csv, params={"listId": named}, headers=headers
    )
    assert response.status_code == 200, body(response)
    assert body(response)["data"]["added"] == 2
    assert await check(client, org, [A, B], []) == [(False, None, []), (False, None, [])]
    assert await check(client, org, [A], [named]) == [(True, "dnc", [named])]
    response = await client.post(
        "/api/dnc/import", content=csv, params={"listId": "nope"}, headers=headers
    )
    assert_error(response, 400, "Unknown list id 'nope'")


async def test_checks_name_lists_by_query_and_body_and_say_what_blocks(
    client: Client, org: Org
) -> None:
    first, second = await new_list(client, org, "one"), await new_list(client, org, "two")
    await bulk(client, org, [{"phoneNumber": A}])
    await bulk(client, org, [{"phoneNumber": B}], listId=second)
    response = await client.post(
        "/api/dnc/prefixes", json={"prefix": "+44 20", "reason": "storm"}, headers=org.headers
    )
    assert response.status_code == 201, body(response)
    response = await get_check(client, org, B, f" {first} ,{second}")
    assert body(response)["data"] == {
        "phoneNumber": B,
        "blocked": True,
        "dncEnabled": True,
        "reason": "dnc",
        "lists": [second],
    }
    assert body(await get_check(client, org, B, None))["data"]["lists"] == []
    assert body(await get_check(client, org, C, ""))["data"]["reason"] == "prefix"
    assert await check(client, org, [A, B, C, "12345"], [second, "default"]) == [
        (True, "dnc", ["default"]),
        (True, "dnc", [second]),
        (True, "prefix", []),
        (True, "invalid", []),
    ]


async def test_a_list_id_of_another_organization_is_unknown_here(
    client: Client, org: Org, other_org: Org
) -> None:
    theirs = await new_list(client, other_org)
    await bulk(client, other_org, [{"phoneNumber": A}], listId=theirs)
    assert_error(await get_check(client, org, A, theirs), 400, "Unknown list id")
    response = await client.post(
        "/api/dnc/check", json={"phoneNumbers": [A], "lists": [theirs]}, headers=org.headers
    )
    assert_error(response, 400, "Unknown list id")
    assert_error(await client.get(f"/api/dnc/lists/{theirs}", headers=org.headers), 404)
    assert_error(await client.delete(f"/api/dnc/lists/{theirs}", headers=org.headers), 404)
    response = await client.post(
        "/api/dnc/bulk-add",
        json={"numbers": [{"phoneNumber": B}], "listId": theirs},
        headers=org.headers,
    )
    assert_error(response, 400, "Unknown list id")
    assert await check(client, other_org, [A, B], [theirs]) == [
        (True, "dnc", [theirs]),
        (False, None, []),
    ]


@pytest.mark.parametrize(
    ("query", "fragment"),
    [
        (b"phoneNumber=12125550100&lists=a&lists=b", "appears more than once"),
        (b"phoneNumber=12125550100&lists=a%20b", "Unknown list id"),
        (b"phoneNumber=12125550100&lists=" + b",".join(b"l%d" % i for i in range(21)), "at most"),
    ],
)
async def test_a_sloppy_lists_parameter_is_a_400(
    client: Client, org: Org, query: bytes, fragment: str
) -> None:
    response = await client.get(f"/api/dnc/check?{query.decode()}", headers=org.headers)
    assert_error(response, 400, fragment)


async def test_prefix_rules_are_created_listed_and_deleted(client: Client, org: Org) -> None:
    response = await client.post(
        "/api/dnc/prefixes",
        json={"prefix": "1 212 555", "reason": "area storm"},
        headers=org.headers,
    )
    assert response.status_code == 201, body(response)
    rule = body(response)["data"]
    assert (rule["prefix"], rule["reason"]) == ("1212555", "area storm")
    assert body(await get_check(client, org, A, None))["data"]["reason"] == "prefix"
    response = await client.post(
        "/api/dnc/prefixes", json={"prefix": "+1212555"}, headers=org.headers
    )
    assert_error(response, 409, "a rule already")
    for bad, fragment in (("121", "4 to 14"), ("9991234", "country code"), ("12a4", "digits")):
        response = await client.post("/api/dnc/prefixes", json={"prefix": bad}, headers=org.headers)
        assert_error(response, 400, fragment)
    listed = body(await client.get("/api/dnc/prefixes", headers=org.headers))["data"]["items"]
    assert [r["id"] for r in listed] == [rule["id"]]
    response = await client.delete(f"/api/dnc/prefixes/{rule['id']}", headers=org.headers)
    assert response.status_code == 200, body(response)
    assert body(await get_check(client, org, A, None))["data"]["blocked"] is False
    assert_error(await client.delete(f"/api/dnc/prefixes/{rule['id']}", headers=org.headers), 404)
    assert_error(await client.delete("/api/dnc/prefixes/not-an-id", headers=org.headers), 404)
    actions = [
        i["action"]
        for i in body(await client.get("/api/dnc/audit", headers=org.headers))["data"]["items"]
    ]
    assert actions[:2] == ["prefix.remove", "prefix.add"]


async def test_cache_status_reports_each_list(client: Client, org: Org) -> None:
    named = await new_list(client, org)
    await bulk(client, org, [{"phoneNumber": A}, {"phoneNumber": B}], listId=named)
    data = body(await client.get("/api/dnc/cache/status", headers=org.headers))["data"]
    assert data["ready"] is True
    assert [(s["id"], s["ready"], s["postgresCount"], s["redisCount"]) for s in data["lists"]] == [
        ("default", True, 0, 0),
        (named, True, 2, 2),
    ]
