"""``dnc worker`` as a real process while its servers go away: a private Redis stopped for
longer than many polls and started again (empty), and Postgres cut off behind a proxy. The
worker stays up, says so once each way in its log, and then runs its crons and jobs again."""

import asyncio
import time
from dataclasses import replace
from urllib.parse import urlsplit

import pytest
import redis

from infra.settings import Settings
from tests.support.helpers import Org, SmtpSink, add_listed_number, mirror_for, new_org, outbox_rows
from tests.support.processes import Workers, eventually, polled, worker_env
from tests.support.servers import PrivateRedis, TcpProxy

OUTAGE_SECONDS = 6  # dozens of polls (0.2 s) and several reconnection attempts
REDIS_AWAY = "Redis unreachable"
REDIS_BACK = "Redis reachable again"
POSTGRES_AWAY = "Postgres unreachable"
POSTGRES_BACK = "Postgres reachable again"


@pytest.fixture
def own_settings(smtp_settings: Settings, private_redis: PrivateRedis) -> Settings:
    """The queue and the mirror on the test's own Redis; reconciliation every 5 s."""
    return replace(
        smtp_settings, redis_url=private_redis.url, redis_timeout_seconds=0.5, reconcile_seconds=5
    )


def health_key_set(settings: Settings, server: PrivateRedis) -> bool:
    """arq's health key, which the worker writes on its first poll."""
    client = redis.Redis(port=server.port)
    try:
        return bool(client.exists(f"{settings.queue_name}:health-check"))
    finally:
        client.close()


async def mirror_ready(settings: Settings, org: Org) -> bool:
    async with mirror_for(settings) as mirror:
        return (await mirror.state(org.id)).ready


def full_log(workers: Workers) -> str:
    logs = sorted(workers.logs.glob("*.log"))
    return "\n".join(path.read_text(errors="replace") for path in logs)


async def outlast(workers: Workers, seconds: float) -> None:
    """The outage goes on for ``seconds``; the worker must live through all of it."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for process in workers.processes:
            assert process.poll() is None, f"the worker died\n{workers.output()}"
        await asyncio.sleep(0.2)


async def test_the_worker_rides_out_a_redis_outage_then_runs_its_crons_and_jobs(
    own_settings: Settings, smtp: SmtpSink, private_redis: PrivateRedis, workers: Workers
) -> None:
    org = await new_org(own_settings, "Redis Outage Dialing")
    worker = workers.start(worker_env(own_settings))
    await eventually(
        polled(lambda: health_key_set(own_settings, private_redis)), 30, "worker up", workers
    )

    private_redis.stop()
    await outlast(workers, OUTAGE_SECONDS)
    assert REDIS_AWAY in full_log(workers)
    private_redis.start()  # back, and empty: the mirror and the queue are gone

    # the crons run again: reconciliation rebuilds the mirror the restart lost
    await eventually(lambda: mirror_ready(own_settings, org), 30, "mirror rebuilt", workers)
    # and jobs do: an add's email to the admin goes out through the queue
    await add_listed_number(own_settings, org)
    await eventually(polled(lambda: len(smtp.messages) == 1), 30, "email sent", workers)
    assert [str(m["To"]) for m in smtp.messages] == [org.admin_email]
    assert worker.poll() is None
    log = full_log(workers)
    assert log.count(REDIS_AWAY) == 1, log  # once, not once a poll
    assert log.count(REDIS_BACK) == 1, log
    assert "Traceback" not in log, log


async def test_the_worker_rides_out_a_postgres_outage_then_delivers(
    smtp_settings: Settings, smtp: SmtpSink, org: Org, workers: Workers
) -> None:
    database = urlsplit(smtp_settings.database_url)
    proxy = TcpProxy(database.port or 5432)
    proxy.start()
    try:
        through_proxy = replace(
            smtp_settings,
            database_url=database._replace(netloc=f"postgres@127.0.0.1:{proxy.port}").geturl(),
        )
        worker = workers.start(worker_env(through_proxy))
        await eventually(polled(lambda: "Starting worker" in workers.output()), 30, "up", workers)

        proxy.cut()  # every connection dropped, new ones refused; the crons keep trying
        # an add made meanwhile (the API still reaches Postgres) queues the admin's email
        await add_listed_number(smtp_settings, org)
        await outlast(workers, OUTAGE_SECONDS)
        await eventually(
            polled(lambda: POSTGRES_AWAY in full_log(workers)), 30, "outage seen", workers
        )
        assert smtp.messages == []
        proxy.restore()

        await eventually(polled(lambda: len(smtp.messages) == 1), 30, "email sent", workers)
        assert [str(m["To"]) for m in smtp.messages] == [org.admin_email]

        async def processed() -> bool:
            return all(row["processed_at"] is not None for row in await outbox_rows(smtp_settings))

        await eventually(processed, 10, "the outbox row marked sent", workers)
        await eventually(
            polled(lambda: POSTGRES_BACK in workers.output()), 10, "recovery logged", workers
        )
        assert worker.poll() is None
        log = full_log(workers)
        assert log.count(POSTGRES_AWAY) == 1, log
        assert log.count(POSTGRES_BACK) == 1, log
    finally:
        proxy.close()
