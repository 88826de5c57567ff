# ruff: noqa: B023  (the closures are awaited inside their loop round)
"""Adversarial review of "Lists and prefix rules" (API.md): probes an outsider would send.

Each test states the promise it holds the service to; the ones that fail show a bug."""

from typing import Any

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


async def blocked_get(client: Client, org: Org, number: str, **params: str) -> bool:
    response = await client.get(
        "/api/dnc/check", params={"phoneNumber": number, **params}, headers=org.headers
    )
    assert response.status_code == 200, body(response)
    return bool(body(response)["data"]["blocked"])


# --- prefix rules -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "prefix",
    [
        "00 1 212 555",  # the international access code of most of the world, then +1 212 555
        "011 44 20",  # NANP's international access code, then +44 20
        "01212555",  # a stray leading zero
    ],
)
async def test_a_prefix_that_no_e164_number_can_start_with_is_refused(
    client: Client, org: Org, prefix: str
) -> None:
    """API.md: a prefix is "4 to 14 digits, a whole country code". E.164 digits never start
    with 0, so a rule starting with 0 matches no number at all: accepting it (201) tells the
    admin the numbers are blocked while every one of them stays callable."""
    response = await client.post("/api/dnc/prefixes", json={"prefix": prefix}, headers=org.headers)
    assert_error(response, 400, "country code")


@pytest.mark.parametrize(
    ("prefix", "fragment"),
    [
        ("\u0661\u0662\u0661\u0662\u0665\u0665\u0665", "digits"),  # Arabic-Indic digits
        ("\uff11\uff12\uff11\uff12\uff15\uff15\uff15", "digits"),  # fullwidth digits
        ("++1212555", "digits"),
        ("1212555\x00", "NUL"),
        ("1" * 15, "4 to 14"),
        ("123", "4 to 14"),
        ("", "digits"),
    ],
)
async def test_odd_prefixes_are_400s(client: Client, org: Org, prefix: str, fragment: str) -> None:
    response = await client.post("/api/dnc/prefixes", json={"prefix": prefix}, headers=org.headers)
    assert_error(response, 400, fragment)


async def test_a_14_digit_prefix_blocks_and_a_rule_with_separators_is_one_rule(
    client: Client, org: Org
) -> None:
    rule = "4420794609"  # 10 digits
    response = await client.post(
        "/api/dnc/prefixes", json={"prefix": "+44 (20) 7946-09"}, headers=org.headers
    )
    assert response.status_code == 201, body(response)
    assert body(response)["data"]["prefix"] == rule
    response = await client.post(
        "/api/dnc/prefixes", json={"prefix": "44207946095"[:11] + "800"}, headers=org.headers
    )
    assert response.status_code == 201, body(response)  # 14 digits
    assert await blocked_get(client, org, C)


# --- an empty listId ----------------------------------------------------------------------


async def test_an_empty_list_id_on_remove_does_not_take_the_number_off_the_org_wide_list(
    client: Client, org: Org
) -> None:
    """listId is optional; an empty string is not an id (every read answers it 400). The
    remove reads it as absent and takes the number off the org-wide list: a client whose
    list id came out empty unblocks the number for every campaign."""
    await bulk(client, org, [{"phoneNumber": A}])
    response = await client.post(
        "/api/dnc/remove", json={"phoneNumber": A, "listId": ""}, headers=org.headers
    )
    assert_error(response, 400, "list id")
    assert await blocked_get(client, org, A)


@pytest.mark.parametrize("path", ["/api/dnc/list", "/api/dnc/export", "/api/dnc/audit"])
async def test_an_empty_list_id_reads_the_same_everywhere(
    client: Client, org: Org, path: str
) -> None:
    """GET /list?listId= and /export?listId= are 400s; /audit?listId= answers the org-wide
    list's audit. One rule for one parameter."""
    response = await client.get(path, params={"listId": ""}, headers=org.headers)
    assert_error(response, 400, "list id")


async def test_an_empty_list_id_on_bulk_add_is_read_as_on_its_items(
    client: Client, org: Org
) -> None:
    """An item's "listId": "" is a 400; the request's "listId": "" silently means the org-wide
    list."""
    response = await client.post(
        "/api/dnc/bulk-add",
        json={"numbers": [{"phoneNumber": A, "listId": ""}]},
        headers=org.headers,
    )
    assert_error(response, 400, "list id")
    response = await client.post(
        "/api/dnc/bulk-add",
        json={"numbers": [{"phoneNumber": A}], "listId": ""},
        headers=org.headers,
    )
    assert_error(response, 400, "list id")


async def test_an_empty_list_id_on_add_is_a_400(client: Client, org: Org) -> None:
    await seed_call(client, org, phone=A)
    response = await client.post("/api/dnc/add", json=add_body(A, listId=""), headers=org.headers)
    assert_error(response, 400, "list id")


# --- what a check names ---------------------------------------------------------------------


async def test_the_org_wide_list_and_20_named_lists_may_be_named_in_the_body_as_in_the_query(
    client: Client, org: Org
) -> None:
    """README: "A check names at most 20 lists ...; naming `default` changes nothing". The
    query takes `default` and 20 named lists; the body refuses the same 21 ids."""
    named = [await new_list(client, org, f"l{i}") for i in range(20)]
    await bulk(client, org, [{"phoneNumber": A}], listId=named[-1])
    ids = ["default", *named]
    assert await blocked_get(client, org, A, lists=",".join(ids))
    response = await client.post(
        "/api/dnc/check", json={"phoneNumbers": [A], "lists": ids}, headers=org.headers
    )
    assert response.status_code == 200, body(response)
    assert body(response)["data"]["results"][0]["lists"] == [named[-1]]
    # and a list named twice is one list (the query says so too)
    response = await client.post(
        "/api/dnc/check",
        json={"phoneNumbers": [A], "lists": [*named, named[0]]},
        headers=org.headers,
    )
    assert response.status_code == 200, body(response)


async def test_an_unknown_list_is_a_400_with_dnc_switched_off_too(client: Client, org: Org) -> None:
    """API.md: "An unknown list id is a 400". With DNC off the mirror answers before the
    lists are looked at, and a check naming a list that does not exist is a 200."""
    response = await client.post(
        "/api/dnc/enable-disable", json={"enable": False}, headers=org.headers
    )
    assert response.status_code == 200, body(response)
    response = await client.get(
        "/api/dnc/check", params={"phoneNumber": A, "lists": "nope"}, headers=org.headers
    )
    assert_error(response, 400, "Unknown list id")
    response = await client.post(
        "/api/dnc/check", json={"phoneNumbers": [A], "lists": ["nope"]}, headers=org.headers
    )
    assert_error(response, 400, "Unknown list id")


@pytest.mark.parametrize("how", ["query listId", "query lists[]", "body listId"])
async def test_a_check_that_names_its_list_as_list_id_is_not_answered_callable(
    client: Client, org: Org, how: str
) -> None:
    """Every other endpoint takes `listId`; a dialer that sends it to /check (query or body),
    or sends `lists[]=` as PHP, Rails and qs do, has its list silently ignored and hears
    "callable" for a number on that list. Either apply it or refuse it (400), never ignore
    it."""
    named = await new_list(client, org)
    await bulk(client, org, [{"phoneNumber": A}], listId=named)
    if how == "query listId":
        response = await client.get(
            "/api/dnc/check", params={"phoneNumber": A, "listId": named}, headers=org.headers
        )
    elif how == "query lists[]":
        response = await client.get(
            f"/api/dnc/check?phoneNumber={A}&lists[]={named}", headers=org.headers
        )
    else:
        response = await client.post(
            "/api/dnc/check", json={"phoneNumbers": [A], "listId": named}, headers=org.headers
        )
    if response.status_code != 400:
        data = body(response)["data"]
        verdict = data["results"][0] if "results" in data else data
        assert verdict["blocked"], body(response)


@pytest.mark.parametrize(
    "lists",
    [[1], [None], [["x"]], [{"id": "x"}], "abc", {"a": 1}, [True], ["x" * 65], ["a b"], ["..", ""]],
)
async def test_json_lists_that_are_not_list_ids_are_400s(
    client: Client, org: Org, lists: Any
) -> None:
    response = await client.post(
        "/api/dnc/check", json={"phoneNumbers": [A], "lists": lists}, headers=org.headers
    )
    assert_error(response, 400)


@pytest.mark.parametrize(
    "raw",
    [
        "%00",
        "..",
        "%2E%2E",
        "%C3%A9t%C3%A9",
        "x" * 65,
        "a%2Cb%2C",  # an encoded comma: two ids, one unknown
        "%E2%80%8Babc",  # a zero-width space
        "abc%0A",
        "%FF",
    ],
)
async def test_weird_lists_query_values_are_400s_on_both_paths(
    client: Client, org: Org, raw: str
) -> None:
    response = await client.get(f"/api/dnc/check?phoneNumber={A}&lists={raw}", headers=org.headers)
    assert_error(response, 400)


@pytest.mark.parametrize(
    "raw", ["%00", "..", "x" * 65, "%C3%A9", "default%00", "a,b", "+abc", "%20abc"]
)
async def test_weird_list_ids_in_paths_are_404s(client: Client, org: Org, raw: str) -> None:
    for method in ("GET", "DELETE"):
        response = await client.request(method, f"/api/dnc/lists/{raw}", headers=org.headers)
        assert response.status_code in (400, 404), (method, raw, response.text)
        assert body(response)["status"] is False


# --- another organization's list ids ---------------------------------------------------------


async def test_another_organizations_list_is_unknown_on_every_endpoint(
    client: Client, org: Org, other_org: Org
) -> None:
    theirs = await new_list(client, other_org)
    await bulk(client, other_org, [{"phoneNumber": A}], listId=theirs)
    params = {"listId": theirs}
    for path in ("/api/dnc/list", "/api/dnc/export", f"/api/dnc/entries/{A}"):
        response = await client.get(path, params=params, headers=org.headers)
        assert_error(response, 400, "Unknown list id")
    response = await client.post(
        "/api/dnc/remove", json={"phoneNumber": A, "listId": theirs}, headers=org.headers
    )
    assert_error(response, 400, "Unknown list id")
    response = await client.post(
        "/api/dnc/import",
        content=f"phoneNumber\n{B}\n".encode(),
        params=params,
        headers={**org.headers, "Content-Type": "text/csv"},
    )
    assert_error(response, 400, "Unknown list id")
    await seed_call(client, org, phone=B)
    response = await client.post(
        "/api/dnc/add", json=add_body(B, listId=theirs), headers=org.headers
    )
    assert_error(response, 400, "Unknown list id")
    response = await client.post(
        "/api/dnc/bulk-add",
        json={"numbers": [{"phoneNumber": B, "listId": theirs}]},
        headers=org.headers,
    )
    assert_error(response, 400, "Unknown list id")
    audit = await client.get("/api/dnc/audit", params=params, headers=org.headers)
    assert audit.status_code in (200, 400), audit.text
    if audit.status_code == 200:
        assert body(audit)["data"]["items"] == []  # their history stays theirs
    # nothing of theirs changed
    response = await client.get("/api/dnc/list", params=params, headers=other_org.headers)
    assert [i["phoneNumber"] for i in body(response)["data"]["items"]] == [A]


# --- deleting a list -------------------------------------------------------------------------


async def test_a_deleted_list_reads_as_unknown_everywhere_but_its_audit(
    client: Client, org: Org
) -> None:
    named = await new_list(client, org)
    await bulk(client, org, [{"phoneNumber": A}], listId=named)
    assert (await client.delete(f"/api/dnc/lists/{named}", headers=org.headers)).status_code == 200
    for path in ("/api/dnc/list", "/api/dnc/export", f"/api/dnc/entries/{A}"):
        response = await client.get(path, params={"listId": named}, headers=org.headers)
        assert_error(response, 400, "Unknown list id")
    response = await client.post(
        "/api/dnc/bulk-add",
        json={"numbers": [{"phoneNumber": A}], "listId": named},
        headers=org.headers,
    )
    assert_error(response, 400, "Unknown list id")
    response = await client.post(
        "/api/dnc/check", json={"phoneNumbers": [A], "lists": [named]}, headers=org.headers
    )
    assert_error(response, 400, "Unknown list id")
    audit = body(await client.get("/api/dnc/audit", params={"listId": named}, headers=org.headers))
    delete = audit["data"]["items"][0]
    assert (delete["action"], delete["after"]) == ("list.delete", {"removed": 1})
    # the tombstone keeps its reason
    lists = body(await client.get("/api/dnc/lists", headers=org.headers))["data"]["items"]
    assert [i["id"] for i in lists] == ["default"]
    # the name may be used again, and the new list is empty
    again = await new_list(client, org)
    assert again != named
    response = await client.post(
        "/api/dnc/check", json={"phoneNumbers": [A], "lists": [again]}, headers=org.headers
    )
    assert body(response)["data"]["results"][0]["blocked"] is False


@pytest.mark.parametrize(
    "raw", ["%00", "%FF", "x" * 65, "..", "%E2%80%8B", "default%20", "%2Bdefault", "a,b", "[]"]
)
async def test_a_weird_list_id_is_a_4xx_envelope_on_every_endpoint_that_takes_one(
    client: Client, org: Org, raw: str
) -> None:
    await seed_call(client, org, phone=A)
    gets = ["/api/dnc/list", "/api/dnc/export", f"/api/dnc/entries/{A}", "/api/dnc/audit"]
    for path in gets:
        response = await client.get(f"{path}?listId={raw}", headers=org.headers)
        assert 400 <= response.status_code < 500, (path, response.text)
        assert body(response)["status"] is False, (path, response.text)
    response = await client.post(
        f"/api/dnc/import?listId={raw}",
        content=f"phoneNumber\n{A}\n".encode(),
        headers={**org.headers, "Content-Type": "text/csv"},
    )
    assert 400 <= response.status_code < 500, response.text
    from urllib.parse import unquote

    value = unquote(raw, errors="replace")
    for path, payload in (
        ("/api/dnc/add", add_body(A, listId=value)),
        ("/api/dnc/remove", {"phoneNumber": A, "listId": value}),
        ("/api/dnc/bulk-add", {"numbers": [{"phoneNumber": A}], "listId": value}),
        ("/api/dnc/bulk-add", {"numbers": [{"phoneNumber": A, "listId": value}]}),
        ("/api/dnc/check", {"phoneNumbers": [A], "lists": [value]}),
    ):
        response = await client.post(path, json=payload, headers=org.headers)
        assert 400 <= response.status_code < 500, (path, response.text)
    assert not await blocked_get(client, org, A)  # nothing was listed on the way


async def test_another_organizations_prefix_rules_are_theirs(
    client: Client, org: Org, other_org: Org
) -> None:
    response = await client.post(
        "/api/dnc/prefixes", json={"prefix": "1212555"}, headers=other_org.headers
    )
    rule = body(response)["data"]["id"]
    assert not await blocked_get(client, org, A)
    assert await blocked_get(client, other_org, A)
    assert body(await client.get("/api/dnc/prefixes", headers=org.headers))["data"]["items"] == []
    assert_error(await client.delete(f"/api/dnc/prefixes/{rule}", headers=org.headers), 404)
    assert await blocked_get(client, other_org, A)


async def test_a_check_token_reads_checks_only(client: Client, org: Org) -> None:
    token = await org.token_for(org.admin_email, scope="check")
    headers = {"Authorization": f"Bearer {token}"}
    for method, path, payload in (
        ("GET", "/api/dnc/lists", None),
        ("POST", "/api/dnc/lists", {"name": "x"}),
        ("DELETE", "/api/dnc/lists/abc", None),
        ("GET", "/api/dnc/prefixes", None),
        ("POST", "/api/dnc/prefixes", {"prefix": "1212555"}),
        ("DELETE", "/api/dnc/prefixes/abc", None),
    ):
        response = await client.request(method, path, json=payload, headers=headers)
        assert_error(response, 403)


async def test_deleting_a_list_while_importing_to_it_leaves_nothing_listed_and_no_500(
    client: Client, org: Org, settings: Any
) -> None:
    import asyncio

    from tests.support.helpers import sql

    csv = "phoneNumber\n" + "".join(f"1310555{i:04d}\n" for i in range(2000))
    for round_ in range(5):
        named = await new_list(client, org, f"import race {round_}")

        async def upload() -> int:
            response = await client.post(
                "/api/dnc/import",
                content=csv.encode(),
                params={"listId": named},
                headers={**org.headers, "Content-Type": "text/csv"},
            )
            return response.status_code

        async def remove() -> int:
            await asyncio.sleep(0.005 * round_)
            response = await client.delete(f"/api/dnc/lists/{named}", headers=org.headers)
            return response.status_code

        uploaded, removed = await asyncio.gather(upload(), remove())
        assert uploaded in (200, 400), uploaded
        assert removed == 200
        response = await client.post(
            "/api/dnc/check",
            json={"phoneNumbers": ["13105550001"], "lists": [named]},
            headers=org.headers,
        )
        assert_error(response, 400, "Unknown list id")
        page = await client.get("/api/dnc/list", params={"listId": named}, headers=org.headers)
        assert_error(page, 400, "Unknown list id")
        rows = await sql(
            settings,
            "SELECT count(*) AS n FROM dnc_entries WHERE list_id = $1 AND removed_at IS NULL",
            named,
        )
        assert rows[0]["n"] == 0, (round_, uploaded)
    lists = body(await client.get("/api/dnc/lists", headers=org.headers))["data"]["items"]
    assert [i["id"] for i in lists] == ["default"]
