"""Checks at a past moment (API.md, "Evidence: history, as-of checks, receipts"): ``at=`` on
both checks answers as a check at that moment would have, from Postgres, for each thing that
changes an answer: entries added and removed, expiry, prefix rules, the DNC switch,
exemptions, subscriptions and named lists. Bad moments are 400s in the envelope; the fast GET
path never answers a check with ``at`` as a check of the present."""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any, cast
from urllib.parse import quote

import pytest
from litestar import Litestar
from litestar.testing import AsyncTestClient

from app.asgi import create_server_app
from app.layers.fast_check import FastCheck
from domain.usecases.shared_lists import subscribe, unsubscribe
from infra.settings import Settings
from tests.api.test_fast_check import Counting
from tests.support.helpers import (
    Client,
    Org,
    add_body,
    assert_error,
    bearer,
    body,
    resources_for,
    seed_call,
    sql,
)
from tests.support.shared import change, load, shared_list

A, B = "12125551234", "13105550100"


async def moment() -> datetime:
    """Now, with a little room on both sides: nothing the test does falls on it."""
    await asyncio.sleep(0.02)
    now = datetime.now(UTC)
    await asyncio.sleep(0.02)
    return now


async def check_at(
    client: Any, org: Org, number: str, at: datetime | str, **params: str
) -> dict[str, Any]:
    """``GET /api/dnc/check?phoneNumber=…&at=…`` (and ``POST`` with the same question,
    which must agree): the single check's data."""
    when = at.isoformat() if isinstance(at, datetime) else at
    response = await client.get(
        "/api/dnc/check", params={"phoneNumber": number, "at": when, **params}, headers=org.headers
    )
    assert response.status_code == 200, body(response)
    single: dict[str, Any] = body(response)["data"]
    request: dict[str, Any] = {"phoneNumbers": [number], "at": when}
    if "lists" in params:
        request["lists"] = params["lists"].split(",")
    response = await client.post("/api/dnc/check", json=request, headers=org.headers)
    assert response.status_code == 200, body(response)
    bulk = body(response)["data"]
    [result] = bulk["results"]
    assert bulk["dncEnabled"] == single["dncEnabled"]
    assert bulk["at"] == single["at"]
    assert bulk["sharedListsChangedSince"] == single["sharedListsChangedSince"]
    assert (result["blocked"], result["reason"], result["lists"]) == (
        single["blocked"],
        single["reason"],
        single["lists"],
    )
    assert bulk["blockedCount"] == int(result["blocked"])
    return single


def verdict(data: dict[str, Any]) -> tuple[bool, str | None, list[str]]:
    return data["blocked"], data["reason"], data["lists"]


CALLABLE: tuple[bool, str | None, list[str]] = (False, None, [])


async def test_an_entry_added_then_removed(client: Client, org: Org) -> None:
    await seed_call(client, org)
    before = await moment()
    response = await client.post("/api/dnc/add", json=add_body(A), headers=org.headers)
    assert response.status_code == 200, body(response)
    between = await moment()
    response = await client.post(
        "/api/dnc/remove", json={"phoneNumber": A, "reason": "asked"}, headers=org.headers
    )
    assert response.status_code == 200, body(response)
    after = await moment()

    assert verdict(await check_at(client, org, A, before)) == CALLABLE
    data = await check_at(client, org, A, between)
    assert verdict(data) == (True, "dnc", ["default"])
    assert data == {
        "phoneNumber": A,
        "blocked": True,
        "dncEnabled": True,
        "reason": "dnc",
        "lists": ["default"],
        "at": between.isoformat().replace("+00:00", "Z"),
        "sharedListsChangedSince": [],
    }
    assert verdict(await check_at(client, org, A, after)) == CALLABLE
    # the same moment written in another timezone is the same moment
    eastern = between.astimezone(datetime.now().astimezone().tzinfo).isoformat()
    assert verdict(await check_at(client, org, A, eastern)) == (True, "dnc", ["default"])
    # the present, without at: callable, and no "at" in the answer
    response = await client.get("/api/dnc/check", params={"phoneNumber": A}, headers=org.headers)
    assert "at" not in body(response)["data"]
    assert "sharedListsChangedSince" not in body(response)["data"]
    assert body(response)["data"]["blocked"] is False


async def test_an_expired_entry_stops_blocking_at_its_expiry(client: Client, org: Org) -> None:
    expires = datetime.now(UTC) + timedelta(seconds=1)
    request = {"numbers": [{"phoneNumber": A, "expiresAt": expires.isoformat()}]}
    response = await client.post("/api/dnc/bulk-add", json=request, headers=org.headers)
    assert body(response)["data"]["results"][0]["outcome"] == "added", body(response)
    listed = await moment()
    await asyncio.sleep(max(0.0, (expires - datetime.now(UTC)).total_seconds()) + 0.05)
    after = await moment()
    assert verdict(await check_at(client, org, A, listed)) == (True, "dnc", ["default"])
    assert verdict(await check_at(client, org, A, expires - timedelta(microseconds=1)))[0]
    assert verdict(await check_at(client, org, A, expires)) == CALLABLE  # expiresAt: no more
    assert verdict(await check_at(client, org, A, after)) == CALLABLE


async def test_a_prefix_rule_added_then_deleted(client: Client, org: Org) -> None:
    before = await moment()
    response = await client.post(
        "/api/dnc/prefixes", json={"prefix": "1212555"}, headers=org.headers
    )
    assert response.status_code == 201, body(response)
    rule_id = body(response)["data"]["id"]
    during = await moment()
    response = await client.delete(f"/api/dnc/prefixes/{rule_id}", headers=org.headers)
    assert response.status_code == 200, body(response)
    after = await moment()
    assert verdict(await check_at(client, org, A, before)) == CALLABLE
    assert verdict(await check_at(client, org, A, during)) == (True, "prefix", [])
    assert verdict(await check_at(client, org, B, during)) == CALLABLE
    assert verdict(await check_at(client, org, A, after)) == CALLABLE
    rows = await sql(
        org.settings, "SELECT removed_at FROM dnc_prefixes WHERE id = $1::uuid", rule_id
    )
    assert rows[0]["removed_at"] is not None  # kept, with when it ended


async def test_the_dnc_switch_as_it_was(client: Client, org: Org) -> None:
    await seed_call(client, org)
    assert (await client.post("/api/dnc/add", json=add_body(A), headers=org.headers)).is_success
    on = await moment()
    switch = "/api/dnc/enable-disable"
    assert (await client.post(switch, json={"enable": False}, headers=org.headers)).is_success
    off = await moment()
    assert (await client.post(switch, json={"enable": False}, headers=org.headers)).is_success
    still_off = await moment()
    assert (await client.post(switch, json={"enable": True}, headers=org.headers)).is_success
    on_again = await moment()
    first = await check_at(client, org, A, on)
    assert (first["dncEnabled"], *verdict(first)) == (True, True, "dnc", ["default"])
    for disabled in (off, still_off):
        data = await check_at(client, org, A, disabled)
        assert (data["dncEnabled"], *verdict(data)) == (False, *CALLABLE)
        invalid = await check_at(client, org, "12345", disabled)  # invalid stays blocked
        assert verdict(invalid) == (True, "invalid", [])
    last = await check_at(client, org, A, on_again)
    assert (last["dncEnabled"], *verdict(last)) == (True, True, "dnc", ["default"])


async def registry(org: Org, *numbers: str) -> str:
    async with resources_for(org.settings) as resources:
        list_id = await shared_list(resources, f"Registry {numbers[0]}")
        await load(resources, list_id, numbers)
    return list_id


async def test_subscriptions_as_they_were(client: Client, org: Org) -> None:
    list_id = await registry(org, A)
    before = await moment()
    async with resources_for(org.settings) as resources:
        await subscribe(resources.uow(), resources.mirror, org.id, list_id)
        during = await moment()
        await unsubscribe(resources.uow(), resources.mirror, org.id, list_id)
        after = await moment()
        await subscribe(resources.uow(), resources.mirror, org.id, list_id)
        again = await moment()
    assert verdict(await check_at(client, org, A, before)) == CALLABLE
    assert verdict(await check_at(client, org, A, during)) == (True, "registry", [list_id])
    assert verdict(await check_at(client, org, B, during)) == CALLABLE
    assert verdict(await check_at(client, org, A, after)) == CALLABLE
    assert verdict(await check_at(client, org, A, again)) == (True, "registry", [list_id])


async def test_a_shared_list_answers_with_its_current_data_and_says_so(
    client: Client, org: Org
) -> None:
    """Only a shared list's current data is kept: a check at a moment before it changed (its
    numbers, or only its freshness) answers with it, plus the numbers change files deleted
    since, and names the list in sharedListsChangedSince."""
    list_id = await registry(org, A)
    async with resources_for(org.settings) as resources:
        await subscribe(resources.uow(), resources.mirror, org.id, list_id)
        unchanged = await moment()
        await change(resources, list_id, added=[], deleted=[])  # renews its freshness only
        renewed = await moment()
        await change(resources, list_id, added=[B], deleted=[A])
        changed = await moment()
    for when in (unchanged, renewed):
        data = await check_at(client, org, B, when)
        assert verdict(data) == (True, "registry", [list_id])  # added since: blocked (safe)
        assert data["sharedListsChangedSince"] == [list_id]
        data = await check_at(client, org, A, when)
        assert verdict(data) == (True, "registry", [list_id])  # deleted since: held then
        assert data["sharedListsChangedSince"] == [list_id]
    for number, expected in ((B, (True, "registry", [list_id])), (A, CALLABLE)):
        data = await check_at(client, org, number, changed)
        assert verdict(data) == expected
        assert data["sharedListsChangedSince"] == []


async def test_a_number_a_full_load_dropped_is_not_known_then(client: Client, org: Org) -> None:
    """A full load is swapped in whole, without comparing it with the list it replaces: a
    number it dropped answers as not held at earlier moments (README: what cannot be
    reconstructed), and the answer names the list as answered with later data."""
    list_id = await registry(org, A)
    async with resources_for(org.settings) as resources:
        await subscribe(resources.uow(), resources.mirror, org.id, list_id)
        held = await moment()
        await load(resources, list_id, [B])
    data = await check_at(client, org, A, held)
    assert verdict(data) == CALLABLE
    assert data["sharedListsChangedSince"] == [list_id]


async def test_exemptions_as_they_were(client: Client, org: Org) -> None:
    list_id = await registry(org, A)
    async with resources_for(org.settings) as resources:
        await subscribe(resources.uow(), resources.mirror, org.id, list_id)
    before = await moment()
    request = {"phoneNumber": A, "basis": "written_consent"}
    response = await client.post("/api/dnc/exemptions", json=request, headers=org.headers)
    assert response.status_code == 201, body(response)
    exemption = body(response)["data"]["id"]
    during = await moment()
    response = await client.delete(f"/api/dnc/exemptions/{exemption}", headers=org.headers)
    assert response.status_code == 200, body(response)
    after = await moment()
    assert verdict(await check_at(client, org, A, before)) == (True, "registry", [list_id])
    assert verdict(await check_at(client, org, A, during)) == CALLABLE
    assert verdict(await check_at(client, org, A, after)) == (True, "registry", [list_id])


async def test_an_exemption_that_lapsed_lifts_nothing(client: Client, org: Org) -> None:
    list_id = await registry(org, A)
    async with resources_for(org.settings) as resources:
        await subscribe(resources.uow(), resources.mirror, org.id, list_id)
    since = datetime.now(UTC) - timedelta(days=80)  # an inquiry lapses 3 months after
    request = {"phoneNumber": A, "basis": "ebr_inquiry", "since": since.isoformat()}
    response = await client.post("/api/dnc/exemptions", json=request, headers=org.headers)
    assert response.status_code == 201, body(response)
    now = await moment()
    assert verdict(await check_at(client, org, A, now)) == CALLABLE
    # pretend the exemption lapsed a moment ago: the as-of check reads its lapsesAt
    await sql(
        org.settings,
        "UPDATE exemptions SET lapses_at = $1 WHERE id = $2::uuid",
        now - timedelta(microseconds=1),
        body(response)["data"]["id"],
    )
    assert verdict(await check_at(client, org, A, now)) == (True, "registry", [list_id])


async def test_a_named_list_deleted(client: Client, org: Org) -> None:
    before = await moment()
    response = await client.post("/api/dnc/lists", json={"name": "Spring"}, headers=org.headers)
    list_id = body(response)["data"]["id"]
    created = await moment()
    request = {"listId": list_id, "numbers": [{"phoneNumber": A}]}
    assert (await client.post("/api/dnc/bulk-add", json=request, headers=org.headers)).is_success
    listed = await moment()
    assert (await client.delete(f"/api/dnc/lists/{list_id}", headers=org.headers)).is_success
    deleted = await moment()

    assert verdict(await check_at(client, org, A, listed, lists=list_id)) == (
        True,
        "dnc",
        [list_id],
    )
    assert verdict(await check_at(client, org, A, listed)) == CALLABLE  # not named: not asked
    assert verdict(await check_at(client, org, A, created, lists=list_id)) == CALLABLE
    assert verdict(await check_at(client, org, A, listed, lists=f"default,{list_id}"))[0]
    for when in (before, deleted):  # the list did not exist then: as a check then, a 400
        response = await client.get(
            "/api/dnc/check",
            params={"phoneNumber": A, "at": when.isoformat(), "lists": list_id},
            headers=org.headers,
        )
        assert_error(response, 400, f"Unknown list id {list_id!r}")
        response = await client.post(
            "/api/dnc/check",
            json={"phoneNumbers": [A], "lists": [list_id], "at": when.isoformat()},
            headers=org.headers,
        )
        assert_error(response, 400, f"Unknown list id {list_id!r}")


async def test_lists_of_another_organization_are_unknown(
    client: Client, org: Org, other_org: Org
) -> None:
    response = await client.post(
        "/api/dnc/lists", json={"name": "Theirs"}, headers=other_org.headers
    )
    theirs = body(response)["data"]["id"]
    request = {"listId": theirs, "numbers": [{"phoneNumber": A}]}
    assert (
        await client.post("/api/dnc/bulk-add", json=request, headers=other_org.headers)
    ).is_success
    await seed_call(client, other_org)
    assert (
        await client.post("/api/dnc/add", json=add_body(A), headers=other_org.headers)
    ).is_success
    now = await moment()
    assert verdict(await check_at(client, org, A, now)) == CALLABLE
    response = await client.get(
        "/api/dnc/check",
        params={"phoneNumber": A, "at": now.isoformat(), "lists": theirs},
        headers=org.headers,
    )
    assert_error(response, 400, "Unknown list id")


async def test_a_bulk_check_at_a_moment_answers_in_order(client: Client, org: Org) -> None:
    await seed_call(client, org)
    assert (await client.post("/api/dnc/add", json=add_body(A), headers=org.headers)).is_success
    now = await moment()
    sent = ["+1 212 555 1234", "2125550100", "12345", A]
    response = await client.post(
        "/api/dnc/check", json={"phoneNumbers": sent, "at": now.isoformat()}, headers=org.headers
    )
    data = body(response)["data"]
    assert [
        (r["phoneNumber"], r["normalized"], r["blocked"], r["reason"]) for r in data["results"]
    ] == [
        ("+1 212 555 1234", A, True, "dnc"),
        ("2125550100", "12125550100", False, None),
        ("12345", None, True, "invalid"),
        (A, A, True, "dnc"),
    ]
    assert data["blockedCount"] == 3


# bad moments -------------------------------------------------------------------------------


async def test_bad_moments_are_400s(client: Client, org: Org) -> None:
    now = datetime.now(UTC)
    bad = {
        (now + timedelta(minutes=5)).isoformat(): "in the future",
        (now - timedelta(days=1)).isoformat(): "before the organization existed",
        "2026-11-01T10:03:00": "needs a timezone",
        "2026-11-01": "needs a timezone",
        "yesterday": "ISO 8601",
        "": "at is empty",
        "2026-13-01T10:03:00Z": "ISO 8601",
        "1730455380": "ISO 8601",
        "0001-01-01T00:00:00+01:00": "out of range",
        "2026-11-01T10:03:00Z" + "0" * 80: "",
    }
    for at, fragment in bad.items():
        response = await client.get(
            "/api/dnc/check", params={"phoneNumber": A, "at": at}, headers=org.headers
        )
        assert_error(response, 400, fragment)
        response = await client.post(
            "/api/dnc/check", json={"phoneNumbers": [A], "at": at}, headers=org.headers
        )
        assert_error(response, 400, fragment)
    for at_value in (1730455380, None, ["2026-11-01T10:03:00Z"], {"at": 1}, True):
        if at_value is None:
            continue  # null is "no at": a check of the present
        response = await client.post(
            "/api/dnc/check", json={"phoneNumbers": [A], "at": at_value}, headers=org.headers
        )
        assert_error(response, 400)


async def test_sloppy_moments(client: Client, org: Org) -> None:
    await seed_call(client, org)
    assert (await client.post("/api/dnc/add", json=add_body(A), headers=org.headers)).is_success
    now = (await moment()).replace(microsecond=0) + timedelta(seconds=1)
    await asyncio.sleep(1.05)
    base = f"/api/dnc/check?phoneNumber={A}"
    # an offset's "+" unencoded is a plus, not a space
    plus = now.astimezone(datetime.now(UTC).astimezone().tzinfo).isoformat()
    ahead = (now + timedelta(hours=2)).replace(tzinfo=None).isoformat() + "+02:00"
    for sent in (ahead, plus):
        response = await client.get(f"{base}&at={sent}", headers=org.headers)
        assert response.status_code == 200, (sent, body(response))
        assert body(response)["data"]["blocked"] is True
        assert body(response)["data"]["at"] == now.isoformat().replace("+00:00", "Z")
    # twice: a 400, never the last or the first
    when = quote(now.isoformat())
    response = await client.get(f"{base}&at={when}&at={when}", headers=org.headers)
    assert_error(response, 400, "'at' appears more than once")
    # bytes that are not UTF-8, a NUL, a control character
    for raw in ("%FF%FE", "2026-11-01T10%3A03%3A00Z%00", "%0A"):
        response = await client.get(f"{base}&at={raw}", headers=org.headers)
        assert_error(response, 400)
    # a duplicate key in the body
    raw_body = f'{{"phoneNumbers": ["{A}"], "at": "{now.isoformat()}", "at": "{now.isoformat()}"}}'
    response = await client.post(
        "/api/dnc/check",
        content=raw_body.encode(),
        headers={**org.headers, "Content-Type": "application/json"},
    )
    assert_error(response, 400)
    # an unknown parameter beside at is still a 400
    response = await client.get(f"{base}&at={when}&listId=x", headers=org.headers)
    assert_error(response, 400, "listId")


# the fast path -----------------------------------------------------------------------------


@pytest.fixture
async def fast(settings: Settings) -> AsyncIterator[tuple[AsyncTestClient[Any], Counting]]:
    """``dnc serve``'s stack, counting the requests its fast check path hands to Litestar."""
    server = create_server_app(settings)
    fast_check: Any = server
    while not isinstance(fast_check, FastCheck):
        fast_check = fast_check.app
    counting = Counting(fast_check.app)
    fast_check.app = cast(Litestar, counting)
    async with AsyncTestClient(app=server) as client:
        yield client, counting


async def test_the_fast_path_never_answers_a_check_at_a_moment_as_a_current_one(
    fast: tuple[AsyncTestClient[Any], Counting], client: Client, org: Org
) -> None:
    fast_client, counting = fast
    token = await org.token_for(org.admin_email, scope="check")  # a dialer's token
    await seed_call(client, org)
    assert (await client.post("/api/dnc/add", json=add_body(A), headers=org.headers)).is_success
    listed = await moment()
    response = await client.post(
        "/api/dnc/remove", json={"phoneNumber": A, "reason": "asked"}, headers=org.headers
    )
    assert response.status_code == 200
    # the token is cached by the fast path now: an ordinary check skips Litestar
    response = await fast_client.get(f"/api/dnc/check?phoneNumber={A}", headers=bearer(token))
    response = await fast_client.get(f"/api/dnc/check?phoneNumber={A}", headers=bearer(token))
    assert body(response)["data"]["blocked"] is False
    counting.paths.clear()
    when = quote(listed.isoformat())
    for query in (
        f"phoneNumber={A}&at={when}",
        f"at={when}&phoneNumber={A}",
        f"phoneNumber=%2B{A}&lists=default&at={when}",
        f"phoneNumber={A}&at={listed.isoformat()}",  # its "+00:00" unencoded
    ):
        response = await fast_client.get(f"/api/dnc/check?{query}", headers=bearer(token))
        assert response.status_code == 200, (query, body(response))
        assert verdict(body(response)["data"]) == (True, "dnc", ["default"]), query
        usual = await client.get(f"/api/dnc/check?{query}", headers=bearer(token))
        assert usual.content == response.content
    assert counting.paths == ["/api/dnc/check"] * 4
    # a bad moment on the server's path: Litestar's 400, not a check of the present
    response = await fast_client.get(f"/api/dnc/check?phoneNumber={A}&at=", headers=bearer(token))
    assert_error(response, 400, "at is empty")


async def test_a_check_scope_token_may_ask_about_the_past(client: Client, org: Org) -> None:
    token = await org.token_for(org.admin_email, scope="check")
    now = await moment()
    response = await client.get(
        "/api/dnc/check", params={"phoneNumber": A, "at": now.isoformat()}, headers=bearer(token)
    )
    assert response.status_code == 200, body(response)
    assert verdict(body(response)["data"]) == CALLABLE


async def test_a_large_check_at_a_moment_answers_every_number_in_order(
    client: Client, org: Org
) -> None:
    """More numbers than one turn of the event loop takes (250): the parts join in order."""
    await seed_call(client, org)
    assert (await client.post("/api/dnc/add", json=add_body(A), headers=org.headers)).is_success
    now = await moment()
    sent = [f"+1212555{i:04d}" for i in range(1000, 2000)] + ["12345"]  # A is +12125551234
    response = await client.post(
        "/api/dnc/check", json={"phoneNumbers": sent, "at": now.isoformat()}, headers=org.headers
    )
    data = body(response)["data"]
    assert [r["phoneNumber"] for r in data["results"]] == sent
    blocked = [r["normalized"] for r in data["results"] if r["blocked"]]
    assert blocked == [A, None]
    assert data["blockedCount"] == 2
