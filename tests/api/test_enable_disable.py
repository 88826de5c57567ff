"""POST /api/dnc/enable-disable: the vendor's behaviour, and the flag dialers read in Redis."""

from typing import Any

import pytest
import redis.asyncio as aioredis
from sqlalchemy import text

from domain.errors import NotFound
from domain.model import Principal
from domain.services import set_dnc_enabled
from infra.db.uow import SqlUnitOfWork, create_engine, create_sessionmaker
from infra.redis_mirror import RedisMirror
from infra.settings import Settings
from tests.helpers import Client, Org, assert_error, bearer, body

SUCCESS = {
    "message": "DNC setting updated successfully",
    "status": True,
    "code": 200,
    "errorMessage": "",
}


async def redis_flag(settings: Settings, org: Org) -> dict[str, str]:
    client = aioredis.Redis.from_url(settings.redis_url, decode_responses=True)
    try:
        key = RedisMirror(client, settings.redis_prefix).settings_key(org.id)
        flag: dict[str, str] = await client.hgetall(key)
        return flag
    finally:
        await client.aclose()


async def test_disable_then_enable(client: Client, org: Org, settings: Settings) -> None:
    response = await client.post(
        "/api/dnc/enable-disable", json={"enable": False}, headers=org.headers
    )
    assert response.status_code == 200
    assert body(response) == SUCCESS
    assert (
        body(await client.get("/api/dnc/settings", headers=org.headers))["data"]["enabled"] is False
    )
    assert (await redis_flag(settings, org))["enabled"] == "0"

    response = await client.post(
        "/api/dnc/enable-disable", json={"enable": True}, headers=org.headers
    )
    assert body(response) == SUCCESS
    assert (
        body(await client.get("/api/dnc/settings", headers=org.headers))["data"]["enabled"] is True
    )
    assert (await redis_flag(settings, org))["enabled"] == "1"


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


async def test_an_older_write_never_overrides_a_newer_one(settings: Settings, org: Org) -> None:
    client = aioredis.Redis.from_url(settings.redis_url)
    try:
        mirror = RedisMirror(client, settings.redis_prefix)
        await mirror.set_enabled(org.id, True, version=5)
        await mirror.set_enabled(org.id, False, version=4)  # a late write of an older toggle
    finally:
        await client.aclose()
    assert await redis_flag(settings, org) == {"enabled": "1", "version": "5"}


async def test_no_users_in_the_organization_is_a_404(settings: Settings, org: Org) -> None:
    engine = create_engine(settings, "dnc-tests")
    client = aioredis.Redis.from_url(settings.redis_url)
    try:
        uow = SqlUnitOfWork(create_sessionmaker(engine))
        async with uow:
            await uow.session.execute(
                text("DELETE FROM users WHERE organization_id = :o"),
                {"o": org.id},
            )
            await uow.commit()
        principal = Principal(org.admin_id, org.id, "admin", "full", org.admin_id)
        with pytest.raises(NotFound, match="No users found"):
            await set_dnc_enabled(uow, RedisMirror(client, settings.redis_prefix), principal, False)
    finally:
        await client.aclose()
        await engine.dispose()
