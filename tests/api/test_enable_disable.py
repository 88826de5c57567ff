"""POST /api/dnc/enable-disable: the vendor's behaviour, and the flag dialers read in Redis."""

import asyncio
from typing import Any

import pytest
from sqlalchemy import text

from domain.errors import NotFound
from domain.model import Principal
from domain.usecases.entries import set_dnc_enabled
from infra.settings import Settings
from tests.support.helpers import Client, Org, assert_error, bearer, body, mirror_for, resources_for

SUCCESS = {
    "message": "DNC setting updated successfully",
    "status": True,
    "code": 200,
    "errorMessage": "",
}


async def redis_flag(settings: Settings, org: Org) -> bool | None:
    async with mirror_for(settings) as mirror:
        return (await mirror.state(org.id)).enabled


async def test_disable_then_enable(client: Client, org: Org, settings: Settings) -> None:
    response = await client.post(
        "/api/dnc/enable-disable", json={"enable": False}, headers=org.headers
    )
    assert response.status_code == 200
    assert body(response) == SUCCESS
    assert (
        body(await client.get("/api/dnc/settings", headers=org.headers))["data"]["enabled"] is False
    )
    assert await redis_flag(settings, org) is False

    response = await client.post(
        "/api/dnc/enable-disable", json={"enable": True}, headers=org.headers
    )
    assert body(response) == SUCCESS
    assert (
        body(await client.get("/api/dnc/settings", headers=org.headers))["data"]["enabled"] is True
    )
    assert await redis_flag(settings, org) is True


@pytest.mark.parametrize("payload", [{"enable": "true"}, {"enable": 1}, {"enable": None}, {}, []])
async def test_enable_must_be_a_json_boolean(client: Client, org: Org, payload: Any) -> None:
    response = await client.post("/api/dnc/enable-disable", json=payload, headers=org.headers)
    assert_error(response, 400)
    assert (
        body(await client.get("/api/dnc/settings", headers=org.headers))["data"]["enabled"] is True
    )


async def test_a_string_true_says_what_is_wrong(client: Client, org: Org) -> None:
    response = await client.post(
        "/api/dnc/enable-disable", json={"enable": "true"}, headers=org.headers
    )
    assert_error(response, 400, "bool", "enable")


async def test_members_may_not_toggle(client: Client, org: Org) -> None:
    _, token = await org.add_user("member")
    response = await client.post(
        "/api/dnc/enable-disable", json={"enable": False}, headers=bearer(token)
    )
    assert_error(response, 403, "admin")


async def test_concurrent_toggles_leave_redis_equal_to_postgres(
    client: Client, org: Org, settings: Settings
) -> None:
    flips = [i % 2 == 0 for i in range(20)]
    responses = await asyncio.gather(
        *(
            client.post("/api/dnc/enable-disable", json={"enable": flip}, headers=org.headers)
            for flip in flips
        )
    )
    assert all(r.status_code == 200 for r in responses)
    in_postgres = body(await client.get("/api/dnc/settings", headers=org.headers))["data"][
        "enabled"
    ]
    assert await redis_flag(settings, org) is in_postgres


async def test_no_users_in_the_organization_is_a_404(settings: Settings, org: Org) -> None:
    async with resources_for(settings) as resources:
        uow = resources.uow()
        async with uow:
            await uow.session.execute(
                text("DELETE FROM users WHERE organization_id = :o"),
                {"o": org.id},
            )
            await uow.commit()
        principal = Principal(org.admin_id, org.id, "admin", "full", org.admin_id)
        with pytest.raises(NotFound, match="No users found"):
            await set_dnc_enabled(uow, resources.mirror, principal, False)
