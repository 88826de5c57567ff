"""Per-token rate limits: 429 in the envelope with Retry-After, per token, then recovery."""

import asyncio
from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Any

import pytest
from litestar.testing import AsyncTestClient

from app.asgi import create_server_app
from infra.settings import Settings
from tests.support.helpers import Org, assert_error, bearer

CHECK = "/api/dnc/check?phoneNumber=2125551234"


@pytest.fixture
async def limited(settings: Settings) -> AsyncIterator[AsyncTestClient[Any]]:
    own = replace(settings, rate_limit_per_second=4, rate_limit_burst=3)
    async with AsyncTestClient(app=create_server_app(own)) as client:
        yield client


async def test_a_token_over_its_limit_gets_429_with_retry_after(
    limited: AsyncTestClient[Any], org: Org
) -> None:
    for _ in range(3):  # the burst; the first also puts the token in the cache (fast path)
        assert (await limited.get(CHECK, headers=org.headers)).status_code == 200
    refused = await limited.get(CHECK, headers=org.headers)
    assert_error(refused, 429, "rate limit", "retry after 1 second")
    assert refused.headers["retry-after"] == "1"
    also_refused = await limited.get("/api/dnc/list", headers=org.headers)  # every route
    assert_error(also_refused, 429, "rate limit")

    _, other_token = await org.add_user()  # another token of the same organization
    assert (await limited.get(CHECK, headers=bearer(other_token))).status_code == 200

    await asyncio.sleep(0.3)  # 4 a second: one more request after a quarter of a second
    assert (await limited.get(CHECK, headers=org.headers)).status_code == 200
    assert (await limited.get(CHECK, headers=org.headers)).status_code == 429


async def test_public_routes_are_not_limited(limited: AsyncTestClient[Any]) -> None:
    for _ in range(10):
        assert (await limited.get("/health")).status_code == 200
