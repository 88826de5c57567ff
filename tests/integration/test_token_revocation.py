"""API.md, "Who am I": a revoked token is refused on every API process within one second.

Real `dnc serve` processes, each with the token in its cache, and the real `dnc token revoke`.
From one second after the revoke returns, every request with the token, a write or the
fast GET /check, is a 401: when Redis carries the announcement, and when Redis is away (the
announcement is lost, and each process trusts its cache for a second at most).
"""

import json
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import replace
from typing import cast

import httpx
import pytest
import redis

from infra.settings import Settings
from infra.token_revocations import channel
from tests.support.helpers import Org, free_port, new_org
from tests.support.processes import DNC, env_of, running
from tests.support.servers import PrivateRedis

NUMBER = "2125550100"
CONTRACT_SECONDS = 1.0  # API.md; a correctness property, not a speed target
Request = Callable[[], httpx.Response]


def serve(settings: Settings, count: int) -> Iterator[list[httpx.Client]]:
    apis = [replace(settings, port=free_port()) for _ in range(count)]
    clients = [httpx.Client(base_url=f"http://127.0.0.1:{api.port}", timeout=10) for api in apis]
    try:
        with running(*(("serve", api) for api in apis)):
            yield clients
    finally:
        for client in clients:
            client.close()


@pytest.fixture(scope="module")
def two_apis(base_settings: Settings) -> Iterator[list[httpx.Client]]:
    """Two processes for the module (they keep nothing of a test but its cached tokens)."""
    yield from serve(base_settings, 2)


@pytest.fixture
def on_private_redis(settings: Settings, private_redis: PrivateRedis) -> Settings:
    """The suite's database, and a Redis the test may stop."""
    return replace(settings, redis_url=private_redis.url, mirror_redis_cluster="")


@pytest.fixture
def api_on_private_redis(on_private_redis: Settings) -> Iterator[httpx.Client]:
    for clients in serve(on_private_redis, 1):
        yield clients[0]


def remove(client: httpx.Client, org: Org) -> Request:
    return lambda: client.post("/api/dnc/remove", json={"phoneNumber": NUMBER}, headers=org.headers)


def check(client: httpx.Client, org: Org) -> Request:
    return lambda: client.get("/api/dnc/check", params={"phoneNumber": NUMBER}, headers=org.headers)


def listening(settings: Settings, processes: int) -> None:
    """Until this many processes subscribe to the revocation channel."""
    client = redis.Redis.from_url(settings.redis_url)
    deadline = time.monotonic() + 30
    try:
        while (
            cast(list[tuple[bytes, int]], client.pubsub_numsub(channel(settings)))[0][1] < processes
        ):
            assert time.monotonic() < deadline, "the API processes never subscribed"
            time.sleep(0.05)
    finally:
        client.close()


def cache_the_token(requests: list[Request]) -> None:
    for request in requests:
        for _ in range(2):  # the second one answers from the cache (and, for GET, fast)
            response = request()
            assert response.status_code in (200, 404, 503), response.text


def revoke(settings: Settings, org: Org) -> tuple[float, str]:
    """`dnc token revoke`; the moment it returned, and what it said on stderr."""
    done = subprocess.run(
        [DNC, "token", "revoke", "--token", org.token],
        env=env_of(settings),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    returned = time.monotonic()
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == '{"revoked": true}'
    return returned, done.stderr


def assert_refused_from_one_second_on(revoked: float, requests: list[Request]) -> None:
    """Every request sent from one second after the revoke on is a 401 (polled until 0.5 s
    past that), whatever was answered before."""
    accepted_late: list[tuple[float, int]] = []
    last: list[int] = []
    while not last or time.monotonic() < revoked + CONTRACT_SECONDS + 0.5:
        last = []
        for request in requests:
            sent = time.monotonic()
            status = request().status_code
            last.append(status)
            if status != 401 and sent - revoked >= CONTRACT_SECONDS:
                accepted_late.append((round(sent - revoked, 3), status))
        time.sleep(0.02)
    assert accepted_late == [], "(seconds after the revoke, status) of requests let through"
    assert last == [401] * len(requests)


@pytest.mark.parametrize("request_of", [remove, check], ids=["a write", "the fast check"])
async def test_every_process_refuses_a_revoked_token_within_a_second(
    settings: Settings,
    two_apis: list[httpx.Client],
    request_of: Callable[[httpx.Client, Org], Request],
) -> None:
    org = await new_org(settings, "Revoked")
    requests = [request_of(client, org) for client in two_apis]
    listening(settings, 2)
    cache_the_token(requests)
    revoked, stderr = revoke(settings, org)
    assert "warning" not in stderr  # the announcement went out
    assert_refused_from_one_second_on(revoked, requests)


async def test_a_rotated_token_is_refused_by_every_process_within_a_second(
    settings: Settings, two_apis: list[httpx.Client]
) -> None:
    """`dnc token rotate` revokes the old token the way `dnc token revoke` does, announcement
    included; the new one is taken by every process at once."""
    org = await new_org(settings, "Rotated")
    requests = [request_of(client, org) for client in two_apis for request_of in (remove, check)]
    listening(settings, 2)
    cache_the_token(requests)
    done = subprocess.run(
        [DNC, "token", "rotate", "--token", org.token],
        env=env_of(settings), capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    rotated = time.monotonic()
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # the announcement went out
    new_token = json.loads(done.stdout)["token"]
    assert_refused_from_one_second_on(rotated, requests)
    renewed = replace(org, token=new_token)
    for client in two_apis:
        assert remove(client, renewed)().status_code == 404  # authenticated; nothing to remove
        assert check(client, renewed)().status_code == 200


async def test_with_redis_away_a_revoked_token_is_refused_within_a_second_and_after(
    on_private_redis: Settings,
    api_on_private_redis: httpx.Client,
    private_redis: PrivateRedis,
) -> None:
    org = await new_org(on_private_redis, "Revoked While Redis Is Away")
    requests = [remove(api_on_private_redis, org), check(api_on_private_redis, org)]
    listening(on_private_redis, 1)
    cache_the_token(requests)
    private_redis.stop()  # the listener loses its connection, the revoke cannot announce
    revoked, stderr = revoke(on_private_redis, org)
    assert "the API processes were not told" in stderr
    assert_refused_from_one_second_on(revoked, requests)

    private_redis.start()  # same port, empty: the listener comes back, having missed it
    listening(on_private_redis, 1)
    deadline = time.monotonic() + 1.5  # its cache did not come back, nor after its pings
    while time.monotonic() < deadline:
        assert [request().status_code for request in requests] == [401, 401]
        time.sleep(0.05)
