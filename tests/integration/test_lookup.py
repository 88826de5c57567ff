"""Dialer lookups: /check in both forms, the direct-Redis client, the cache admin endpoints."""

from collections.abc import AsyncIterator
from typing import cast

import pytest
from redis.asyncio import Redis
from redis.exceptions import ResponseError

from infra.dnc_client import DncClient
from infra.redis import layout
from infra.redis.mirror import LUA
from infra.settings import Settings
from tests.support.helpers import (
    Client,
    Org,
    add_body,
    assert_error,
    bearer,
    body,
    forget_mirror,
    mirror_for,
    run_worker,
    seed_call,
)

LISTED = "12125551234"


@pytest.fixture
async def listed(client: Client, org: Org) -> Org:
    await seed_call(client, org)
    response = await client.post("/api/dnc/add", json=add_body(), headers=org.headers)
    assert response.status_code == 200
    return org


@pytest.fixture
async def dialer(settings: Settings, client: Client, listed: Org) -> AsyncIterator[DncClient]:
    """The Python client as a dialer runs it: direct Redis, the API (here in-process) behind."""
    token = await listed.token_for(listed.admin_email, scope="check")
    client.headers["Authorization"] = f"Bearer {token}"
    async with mirror_for(settings) as mirror:  # the mirror's Redis (a cluster, if so set)
        yield DncClient(
            redis=mirror.redis,
            organization_id=listed.id,
            http=client,
            prefix=settings.redis_prefix,
        )
    del client.headers["Authorization"]


async def test_get_check(client: Client, listed: Org) -> None:
    response = await client.get(
        "/api/dnc/check", params={"phoneNumber": "+1 (212) 555-1234"}, headers=listed.headers
    )
    assert response.status_code == 200
    assert body(response)["data"] == {
        "phoneNumber": LISTED,
        "blocked": True,
        "dncEnabled": True,
        "reason": "dnc",
        "lists": ["default"],
    }
    other = await client.get(
        "/api/dnc/check", params={"phoneNumber": "2125550100"}, headers=listed.headers
    )
    assert body(other)["data"] == {
        "phoneNumber": "12125550100",
        "blocked": False,
        "dncEnabled": True,
        "reason": None,
        "lists": [],
    }


async def test_get_check_of_an_invalid_number_is_blocked_as_invalid(
    client: Client, org: Org
) -> None:
    response = await client.get(
        "/api/dnc/check", params={"phoneNumber": "555-0100"}, headers=org.headers
    )
    assert response.status_code == 200
    assert body(response)["data"] == {
        "phoneNumber": "555-0100",
        "blocked": True,
        "dncEnabled": True,
        "reason": "invalid",
        "lists": [],
    }


async def test_get_check_needs_a_number(client: Client, org: Org) -> None:
    assert_error(await client.get("/api/dnc/check", headers=org.headers), 400, "phoneNumber")


async def test_post_check_answers_in_order(client: Client, listed: Org) -> None:
    numbers = ["2125550100", "+1 212 555 1234", "nope", "212.555.1234", "+44 20 7946 0958"]
    response = await client.post(
        "/api/dnc/check", json={"phoneNumbers": numbers}, headers=listed.headers
    )
    assert response.status_code == 200
    data = body(response)["data"]
    assert data["dncEnabled"] is True
    assert data["blockedCount"] == 3
    assert data["results"] == [
        {
            "phoneNumber": "2125550100",
            "normalized": "12125550100",
            "blocked": False,
            "reason": None,
            "lists": [],
        },
        {
            "phoneNumber": "+1 212 555 1234",
            "normalized": LISTED,
            "blocked": True,
            "reason": "dnc",
            "lists": ["default"],
        },
        {
            "phoneNumber": "nope",
            "normalized": None,
            "blocked": True,
            "reason": "invalid",
            "lists": [],
        },
        {
            "phoneNumber": "212.555.1234",
            "normalized": LISTED,
            "blocked": True,
            "reason": "dnc",
            "lists": ["default"],
        },
        {
            "phoneNumber": "+44 20 7946 0958",
            "normalized": "442079460958",
            "blocked": False,
            "reason": None,
            "lists": [],
        },
    ]


async def test_post_check_takes_50000_numbers_and_no_more(client: Client, listed: Org) -> None:
    numbers = [f"+1212555{i % 10000:04d}" for i in range(50_000)]
    response = await client.post(
        "/api/dnc/check", json={"phoneNumbers": numbers}, headers=listed.headers
    )
    assert response.status_code == 200
    assert body(response)["data"]["blockedCount"] == 5  # 1234 comes round five times
    too_many = await client.post(
        "/api/dnc/check", json={"phoneNumbers": [*numbers, "2125551234"]}, headers=listed.headers
    )
    assert_error(too_many, 400, "50000")


@pytest.mark.parametrize("payload", [{}, {"phoneNumbers": "2125551234"}, {"phoneNumbers": [1]}])
async def test_post_check_validates_its_body(client: Client, org: Org, payload: object) -> None:
    assert_error(await client.post("/api/dnc/check", json=payload, headers=org.headers), 400)


async def test_check_scope_tokens_may_check(client: Client, listed: Org) -> None:
    token = await listed.token_for(listed.admin_email, scope="check")
    response = await client.get(
        "/api/dnc/check", params={"phoneNumber": LISTED}, headers=bearer(token)
    )
    assert body(response)["data"]["blocked"] is True
    response = await client.post(
        "/api/dnc/check", json={"phoneNumbers": [LISTED]}, headers=bearer(token)
    )
    assert body(response)["data"]["blockedCount"] == 1


async def test_with_dnc_disabled_every_valid_number_is_callable(
    client: Client, listed: Org
) -> None:
    await client.post("/api/dnc/enable-disable", json={"enable": False}, headers=listed.headers)
    response = await client.post(
        "/api/dnc/check", json={"phoneNumbers": [LISTED, "x"]}, headers=listed.headers
    )
    data = body(response)["data"]
    assert data["dncEnabled"] is False
    assert [r["blocked"] for r in data["results"]] == [
        False,
        True,
    ]  # an invalid number stays blocked
    await client.post("/api/dnc/enable-disable", json={"enable": True}, headers=listed.headers)
    response = await client.get(
        "/api/dnc/check", params={"phoneNumber": LISTED}, headers=listed.headers
    )
    assert body(response)["data"]["blocked"] is True


async def test_the_direct_client_answers_from_redis(dialer: DncClient) -> None:
    result = await dialer.check(["+1 212 555 1234", "2125550100", "bad"])
    assert result.source == "redis"
    assert [(v.normalized, v.blocked, v.reason) for v in result.verdicts] == [
        (LISTED, True, "dnc"),
        ("12125550100", False, None),
        (None, True, "invalid"),
    ]


async def test_a_removed_number_is_callable_everywhere(
    client: Client, dialer: DncClient, listed: Org
) -> None:
    response = await client.post(
        "/api/dnc/remove",
        json={"phoneNumber": LISTED, "reason": "asked by mistake"},
        headers=listed.headers,
    )
    assert response.status_code == 200
    assert body(response)["message"] == "Phone number removed from DNC successfully"
    assert (await dialer.check([LISTED])).verdicts[0].blocked is False
    check = await client.get(
        "/api/dnc/check", params={"phoneNumber": LISTED}, headers=listed.headers
    )
    assert body(check)["data"]["blocked"] is False
    again = await client.post(
        "/api/dnc/remove", json={"phoneNumber": LISTED}, headers=listed.headers
    )
    assert_error(again, 404, "not on the DNC list")


async def test_delete_by_id(client: Client, listed: Org) -> None:
    entry = body(await client.get(f"/api/dnc/entries/{LISTED}", headers=listed.headers))["data"]
    response = await client.delete(f"/api/dnc/delete/{entry['id']}", headers=listed.headers)
    assert response.status_code == 200
    assert body(response)["data"]["id"] == entry["id"]
    assert_error(await client.delete(f"/api/dnc/delete/{entry['id']}", headers=listed.headers), 404)
    assert_error(await client.delete("/api/dnc/delete/not-an-id", headers=listed.headers), 404)


async def test_lost_keys_read_as_unknown_and_checks_fall_back_to_postgres(
    settings: Settings, client: Client, dialer: DncClient, listed: Org
) -> None:
    async with mirror_for(settings) as mirror:
        await forget_mirror(mirror, listed.id)  # the organization's keys are gone
    result = await dialer.check([LISTED])
    assert (result.source, result.verdicts[0].blocked) == ("api", True)
    check = await client.get(
        "/api/dnc/check", params={"phoneNumber": LISTED}, headers=listed.headers
    )
    assert body(check)["data"]["blocked"] is True
    await run_worker(settings)  # the rebuild the check asked for
    result = await dialer.check([LISTED, "2125550100"])
    assert result.source == "redis"
    assert [v.blocked for v in result.verdicts] == [True, False]


async def test_cache_status_and_rebuild(settings: Settings, client: Client, listed: Org) -> None:
    status = body(await client.get("/api/dnc/cache/status", headers=listed.headers))["data"]
    assert status["ready"] is True
    assert (status["postgresCount"], status["redisCount"]) == (1, 1)
    assert status["rebuilding"] is False
    response = await client.post("/api/dnc/cache/rebuild", headers=listed.headers)
    assert response.status_code == 202
    job_id = body(response)["data"]["jobId"]
    assert str(listed.id) in job_id
    await run_worker(settings)
    status = body(await client.get("/api/dnc/cache/status", headers=listed.headers))["data"]
    assert status["lastRebuild"]["count"] == 1
    assert status["redisCount"] == 1


async def test_only_admins_may_rebuild(client: Client, listed: Org) -> None:
    _, member = await listed.add_user("member")
    assert_error(await client.post("/api/dnc/cache/rebuild", headers=bearer(member)), 403, "admin")
    check_token = await listed.token_for(listed.admin_email, scope="check")
    assert_error(await client.post("/api/dnc/cache/rebuild", headers=bearer(check_token)), 403)


async def test_check_lua_answers_each_number_in_order_and_refuses_the_calls_of_old(
    settings: Settings, listed: Org
) -> None:
    """One 'o' call answers every number asked, repeats too, in order; the calls dialers made
    before (one argument a number, '@' and the numbers, two keys without the exemptions, one
    key) are errors, never answers."""
    numbers = [LISTED, "12125550100", "442079460958", LISTED, "12125550101"]
    async with mirror_for(settings) as mirror:
        scripts = cast(Redis, mirror.redis)  # redis-py types register_script for Redis only
        script = scripts.register_script((LUA / "check.lua").read_text())
        keys = layout.check_keys(mirror.prefix, listed.id)
        assert await script(keys=keys, args=["o", ",".join(numbers)]) == [1, 1, b"", b"10010"]
        assert await script(keys=keys, args=["o", ""]) == [1, 1, b"", b""]
        for args in (numbers, ["@", ",".join(numbers)], ["o", *numbers[:2]], ["s", LISTED]):
            with pytest.raises(ResponseError, match=r"check\.lua"):
                await script(keys=keys, args=args)
        for old_keys in (keys[:2], keys[:1]):  # the calls before exemptions, before lists
            with pytest.raises(ResponseError, match="takes 3 keys"):
                await script(keys=old_keys, args=["o", LISTED])


async def test_the_direct_client_with_dnc_disabled_calls_every_valid_number_callable(
    client: Client, dialer: DncClient, listed: Org
) -> None:
    await client.post("/api/dnc/enable-disable", json={"enable": False}, headers=listed.headers)
    result = await dialer.check([LISTED, "bad"])
    assert (result.source, result.dnc_enabled) == ("redis", False)
    assert [(v.blocked, v.reason) for v in result.verdicts] == [(False, None), (True, "invalid")]
