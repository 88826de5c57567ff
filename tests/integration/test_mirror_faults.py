"""The mirror under failure, on servers the tests own: a private redis-server (flushed,
restarted empty, stopped) and a TCP proxy in front of Postgres that the test cuts.
Whatever happens, a listed number is never reported callable."""

import asyncio
from collections.abc import AsyncIterator, Awaitable
from dataclasses import replace
from typing import cast
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest
from litestar.testing import AsyncTestClient
from redis import Redis as SyncRedis
from redis.asyncio import Redis as AsyncRedis

from app.asgi import create_app
from domain.usecases import mirror_sync as mirror_module
from domain.usecases.checks import RebuildRequests, check_numbers
from domain.usecases.mirror_repair import reconcile, verify
from domain.usecases.mirror_sync import sync_all
from infra.dnc_client import DncClient, DncUnavailable
from infra.redis.layout import locate
from infra.redis.mirror import RedisMirror
from infra.redis.queue import ArqJobQueue
from infra.settings import Settings
from tests.support.helpers import (
    Client,
    Org,
    add_body,
    arq_for,
    assert_error,
    body,
    free_port,
    mirror_for,
    new_org,
    run_worker,
    seed_call,
    uow_for,
)
from tests.support.servers import PrivateRedis, TcpProxy

LISTED = "12125551234"


@pytest.fixture
def own_settings(settings: Settings, private_redis: PrivateRedis) -> Settings:
    return replace(settings, redis_url=private_redis.url, redis_timeout_seconds=0.5)


@pytest.fixture
async def app_client(own_settings: Settings) -> AsyncIterator[Client]:
    async with AsyncTestClient(app=create_app(own_settings)) as client:
        yield client


@pytest.fixture
async def listed(own_settings: Settings, app_client: Client) -> Org:
    org = await new_org(own_settings, "Faulty Redis Inc")
    await seed_call(app_client, org)
    assert (
        await app_client.post("/api/dnc/add", json=add_body(), headers=org.headers)
    ).status_code == 200
    return org


async def check(client: Client, org: Org) -> dict[str, object]:
    response = await client.get(
        "/api/dnc/check", params={"phoneNumber": LISTED}, headers=org.headers
    )
    assert response.status_code == 200, response.text
    data: dict[str, object] = body(response)["data"]
    return data


async def direct(settings: Settings, org: Org, client: Client) -> tuple[str, bool]:
    async with arq_for(settings) as redis:
        client.headers["Authorization"] = f"Bearer {org.token}"
        try:
            dialer = DncClient(
                redis=redis, organization_id=org.id, http=client, prefix=settings.redis_prefix
            )
            result = await dialer.check([LISTED])
        finally:
            del client.headers["Authorization"]
    return result.source, result.verdicts[0].blocked


async def recovers(settings: Settings, org: Org, client: Client) -> None:
    """The rebuild the checks asked for runs; the mirror answers again, right."""
    await run_worker(settings)
    assert await direct(settings, org, client) == ("redis", True)
    async with uow_for(settings) as uow, mirror_for(settings) as mirror:
        assert not (await verify(uow, mirror, org.id)).drifted


@pytest.mark.parametrize("loss", ["flushed", "restarted empty"])
async def test_redis_that_lost_the_mirror(
    own_settings: Settings,
    app_client: Client,
    listed: Org,
    private_redis: PrivateRedis,
    loss: str,
) -> None:
    assert await direct(own_settings, listed, app_client) == ("redis", True)
    if loss == "flushed":
        private_redis.flush()
    else:
        private_redis.stop()
        private_redis.start()
    assert (await check(app_client, listed))["blocked"] is True
    assert await direct(own_settings, listed, app_client) == ("api", True)
    await recovers(own_settings, listed, app_client)


async def test_redis_unreachable_checks_answer_from_postgres(
    own_settings: Settings, app_client: Client, listed: Org, private_redis: PrivateRedis
) -> None:
    private_redis.stop()
    assert (await check(app_client, listed))["blocked"] is True
    response = await app_client.post(
        "/api/dnc/check", json={"phoneNumbers": [LISTED, "2125550100"]}, headers=listed.headers
    )
    assert [r["blocked"] for r in body(response)["data"]["results"]] == [True, False]
    # a write cannot reach the mirror: refused, nothing saved
    await seed_call(app_client, listed, request_uuid="req-2", phone="2125550100")
    add = await app_client.post(
        "/api/dnc/add", json=add_body("2125550100", request_uuid="req-2"), headers=listed.headers
    )
    assert_error(add, 503, "nothing was saved")
    assert (await check(app_client, listed))["blocked"] is True
    private_redis.start()  # back, and empty
    assert (await check(app_client, listed))["blocked"] is True
    await recovers(own_settings, listed, app_client)


async def test_disable_while_redis_is_down_is_saved_and_catches_up(
    own_settings: Settings, app_client: Client, listed: Org, private_redis: PrivateRedis
) -> None:
    async with arq_for(own_settings) as redis:  # keep Redis's memory but make it unreachable
        await redis.client_pause(1500, all=True)
    response = await app_client.post(
        "/api/dnc/enable-disable", json={"enable": False}, headers=listed.headers
    )
    assert_error(response, 503, "switched off and saved", "keep skipping")
    settings_now = body(await app_client.get("/api/dnc/settings", headers=listed.headers))["data"]
    assert settings_now["enabled"] is False
    await asyncio.sleep(1.6)  # the pause is over
    async with mirror_for(own_settings) as mirror:
        assert (await mirror.state(listed.id)).enabled is True  # still blocking: the safe side
        async with uow_for(own_settings) as uow:
            assert await sync_all(uow, mirror) == 1  # the worker's periodic relay
        assert (await mirror.state(listed.id)).enabled is False


async def test_neither_redis_nor_postgres_is_a_503(
    own_settings: Settings, listed: Org, private_redis: PrivateRedis
) -> None:
    db = urlsplit(own_settings.database_url)
    proxy = TcpProxy(db.port or 5432)
    proxy.start()
    proxied = replace(
        own_settings,
        database_url=db._replace(netloc=f"{db.username}@127.0.0.1:{proxy.port}").geturl(),
    )
    async with AsyncTestClient(app=create_app(proxied)) as client:
        assert (await check(client, listed))["blocked"] is True  # the token is known from here on
        private_redis.stop()
        assert (await check(client, listed))["blocked"] is True  # from Postgres
        proxy.cut()
        response = await client.get(
            "/api/dnc/check", params={"phoneNumber": LISTED}, headers=listed.headers
        )
        assert_error(response, 503, "do not dial")
        response = await client.post(
            "/api/dnc/check", json={"phoneNumbers": [LISTED]}, headers=listed.headers
        )
        assert_error(response, 503, "do not dial")
        proxy.restore()
        assert (await check(client, listed))["blocked"] is True  # recovered without a restart
    proxy.close()


async def test_a_redis_write_lost_after_the_commit_is_applied_by_the_relay(
    own_settings: Settings, app_client: Client, listed: Org, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The process 'dies' after committing an add: its Redis write and its sync never happen."""

    async def lost(*_: object, **__: object) -> bool:
        return True

    await seed_call(app_client, listed, request_uuid="req-2", phone="2125550100")

    monkeypatch.setattr(RedisMirror, "apply", lost)
    monkeypatch.setattr(mirror_module, "sync_mirror", lost)
    response = await app_client.post(
        "/api/dnc/add", json=add_body("2125550100", request_uuid="req-2"), headers=listed.headers
    )
    assert response.status_code == 200
    monkeypatch.undo()
    async with uow_for(own_settings) as uow, mirror_for(own_settings) as mirror:
        drift = await verify(uow, mirror, listed.id)
        assert drift.missing_in_redis == 1  # what the crash left behind
        assert await sync_all(uow, mirror) >= 1  # the worker's periodic relay
        assert not (await verify(uow, mirror, listed.id)).drifted
    assert await direct(own_settings, listed, app_client) == ("redis", True)


async def test_reconciliation_repairs_drift(
    own_settings: Settings, app_client: Client, listed: Org
) -> None:
    async with mirror_for(own_settings) as mirror:
        state = await mirror.state(listed.id)
        assert state.generation
        assert state.buckets
        bucket, member = locate(int(LISTED), state.buckets)
        key = mirror.bucket_key(listed.id, state.generation, bucket)
        assert await cast(Awaitable[int], mirror.redis.srem(key, member)) == 1
        async with uow_for(own_settings) as uow:
            assert (await verify(uow, mirror, listed.id)).missing_in_redis == 1

            found = await reconcile(uow, mirror, ArqJobQueue(mirror.redis, own_settings))  # type: ignore[arg-type]
            assert [d.organization_id for d in found] == [listed.id]
    await recovers(own_settings, listed, app_client)


async def test_the_direct_client_refuses_to_guess(
    own_settings: Settings, listed: Org, private_redis: PrivateRedis
) -> None:
    private_redis.stop()
    dialer = DncClient.connect(
        redis_url=own_settings.redis_url,
        organization_id=listed.id,
        api_url="http://127.0.0.1:9",  # nothing listens
        token=listed.token,
        prefix=own_settings.redis_prefix,
        timeout_seconds=0.2,
    )

    with pytest.raises(DncUnavailable):
        await dialer.check([LISTED])
    await dialer.aclose()


async def test_postgres_rows_are_untouched_by_redis_faults(
    own_settings: Settings, listed: Org, private_redis: PrivateRedis
) -> None:
    private_redis.flush()
    connection = await asyncpg.connect(own_settings.database_url)
    try:
        assert (
            await connection.fetchval("SELECT count(*) FROM dnc_entries WHERE removed_at IS NULL")
            == 1
        )
    finally:
        await connection.close()


async def test_a_redis_restored_from_an_old_snapshot_is_not_trusted(
    own_settings: Settings, app_client: Client, listed: Org, private_redis: PrivateRedis
) -> None:
    async with arq_for(own_settings) as redis:
        await redis.save()  # a snapshot from before the next add
    await seed_call(app_client, listed, request_uuid="req-2", phone="2125550100")
    added = await app_client.post(
        "/api/dnc/add", json=add_body("2125550100", request_uuid="req-2"), headers=listed.headers
    )
    assert added.status_code == 200
    private_redis.stop()  # nothing saved on the way down...
    private_redis.start()  # ...so the old snapshot comes back, still saying "ready"
    response = await app_client.get(
        "/api/dnc/check", params={"phoneNumber": "2125550100"}, headers=listed.headers
    )
    assert body(response)["data"]["blocked"] is True
    async with arq_for(own_settings) as redis:
        dialer = DncClient(
            redis=redis,
            organization_id=listed.id,
            http=app_client,
            prefix=own_settings.redis_prefix,
        )
        app_client.headers["Authorization"] = f"Bearer {listed.token}"
        try:
            result = await dialer.check(["2125550100"])
        finally:
            del app_client.headers["Authorization"]
    assert (result.source, result.verdicts[0].blocked) == ("api", True)
    await recovers(own_settings, listed, app_client)


async def test_a_huge_check_falls_back_to_postgres_in_one_query(
    own_settings: Settings, app_client: Client, listed: Org, private_redis: PrivateRedis
) -> None:
    private_redis.stop()
    numbers = [f"+1212{i:07d}" for i in range(2_000_000, 2_040_000)] + ["2125551234"]
    response = await app_client.post(
        "/api/dnc/check", json={"phoneNumbers": numbers}, headers=listed.headers
    )
    assert response.status_code == 200, response.text[:300]
    assert body(response)["data"]["blockedCount"] == 1


async def test_cache_admin_answers_503_while_redis_is_down(
    app_client: Client, listed: Org, private_redis: PrivateRedis
) -> None:
    private_redis.stop()
    assert_error(await app_client.get("/api/dnc/cache/status", headers=listed.headers), 503)
    assert_error(await app_client.post("/api/dnc/cache/rebuild", headers=listed.headers), 503)


async def test_concurrent_checks_share_round_trips_and_each_gets_its_own_answer(
    own_settings: Settings, listed: Org, private_redis: PrivateRedis
) -> None:
    other = await new_org(own_settings, "Other Dialer")
    redis = SyncRedis(port=private_redis.port)
    numbers = [f"+1 212 555 {n:04d}" for n in range(1200, 1300)]  # 1234 is listed by `listed`

    # httpx's ASGI transport runs each request in the caller's task, so gathered requests
    # really are concurrent, on this event loop, with the app's lifespan run here too
    app = create_app(own_settings)
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]  # httpx types ASGI loosely
    async with app.lifespan(), httpx.AsyncClient(transport=transport, base_url="http://t") as http:

        async def one(org: Org, number: str) -> tuple[Org, str, object]:
            answer = await check_number(http, org, number)
            return org, number, answer["blocked"]

        for org in (listed, other):  # tokens are looked up once, then cached
            await one(org, numbers[0])
        before = _evalsha_calls(redis)
        answers = await asyncio.gather(
            *(one(org, number) for number in numbers for org in (listed, other))
        )
        for org, number, blocked in answers:
            assert blocked is (org is listed and number.endswith("1234")), (org.id, number)
        round_trips = _evalsha_calls(redis) - before
        redis.close()
        assert 1 <= round_trips < len(answers) / 4, round_trips

        private_redis.stop()  # every waiter of a failed round trip falls back to Postgres
        answers = await asyncio.gather(*(one(listed, number) for number in numbers))
        assert [b for _, _, b in answers] == [n.endswith("1234") for n in numbers]


def _evalsha_calls(redis: SyncRedis) -> int:
    stats = cast(dict[str, dict[str, int]], redis.info("commandstats"))
    return stats.get("cmdstat_evalsha", {}).get("calls", 0)


async def check_number(client: httpx.AsyncClient, org: Org, number: str) -> dict[str, object]:
    response = await client.get(
        "/api/dnc/check", params={"phoneNumber": number}, headers=org.headers
    )
    assert response.status_code == 200, body(response)
    data: dict[str, object] = body(response)["data"]
    return data


async def test_a_redis_cluster_that_cannot_be_reached_means_postgres_answers(
    own_settings: Settings, listed: Org
) -> None:
    """The cluster client raises its own exceptions (not RedisError): still a fallback."""
    dead = replace(own_settings, mirror_redis_cluster=f"127.0.0.1:{free_port()}")
    async with AsyncTestClient(app=create_app(dead)) as client:
        answer = await check(client, listed)
    assert answer["blocked"] is True


@pytest.mark.parametrize(
    "reply",
    [
        "return {1, 1, '', '0'}",  # one answer for two numbers
        "return {1, 1, '00'}",  # the shape of the script before shared lists
        "return {1, 1, '', '00', ''}",
    ],
)
async def test_an_answer_for_the_wrong_count_of_numbers_is_not_read_as_callable(
    own_settings: Settings, listed: Org, reply: str
) -> None:
    async with (
        uow_for(own_settings) as uow,
        mirror_for(own_settings) as mirror,
        arq_for(own_settings) as arq,
    ):
        scripts = cast(AsyncRedis, mirror.redis)
        mirror._checking._script = scripts.register_script(reply)
        rebuilds = RebuildRequests(ArqJobQueue(arq, own_settings))
        result = await check_numbers(uow, mirror, rebuilds, listed.id, [LISTED, "12125550100"])
    assert result.source == "postgres"
    assert [v.blocked for v in result.verdicts] == [True, False]


@pytest.mark.single_redis
async def test_dialers_under_traffic_while_redis_is_flushed_stopped_and_restarted_empty(
    own_settings: Settings, listed: Org, private_redis: PrivateRedis
) -> None:
    """Eight dialers keep checking (really concurrently, on this event loop) while Redis is
    flushed, stopped and started again empty: every answer is a 200 from the mirror or from
    Postgres, and the listed number is never callable."""
    app = create_app(own_settings)
    transport = httpx.ASGITransport(app=app)  # type: ignore[arg-type]  # httpx types ASGI loosely
    answers: dict[tuple[int, object], int] = {}
    wrong: list[str] = []
    stop = asyncio.Event()

    async def dialer(http: httpx.AsyncClient, number: str) -> None:
        while not stop.is_set():
            response = await http.get(
                "/api/dnc/check", params={"phoneNumber": number}, headers=listed.headers
            )
            blocked = response.json().get("data", {}).get("blocked")
            if number == LISTED and blocked is not True:
                wrong.append(response.text)
            key = (response.status_code, blocked)
            answers[key] = answers.get(key, 0) + 1

    async with app.lifespan(), httpx.AsyncClient(transport=transport, base_url="http://t") as http:
        dialers = [
            asyncio.create_task(dialer(http, LISTED if i % 2 else "12125550100")) for i in range(8)
        ]
        for fault in (private_redis.flush, private_redis.stop, private_redis.start):
            await asyncio.sleep(0.4)
            await asyncio.to_thread(fault)  # the dialers keep going meanwhile
        await asyncio.sleep(0.4)
        stop.set()
        await asyncio.gather(*dialers)
    assert wrong == []
    assert set(answers) == {(200, True), (200, False)}, answers
