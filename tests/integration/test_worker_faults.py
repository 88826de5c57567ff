"""The worker under fault injection, as real processes: ``dnc worker`` is killed with SIGKILL in
the middle of a mirror rebuild and in the middle of sending the admins' email, and SMTP goes
away for a while. A worker started afterwards finishes the work within seconds. Meanwhile a
listed number is never reported callable, and every admin gets the email, once."""

import asyncio
import contextlib
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Iterator
from dataclasses import dataclass, replace
from typing import Any, cast
from urllib.parse import urlsplit
from uuid import UUID

import asyncpg
import pytest
from arq import func
from litestar.testing import AsyncTestClient

from app.asgi import create_app
from domain.usecases.mirror_repair import verify
from infra.dnc_client import DncClient, DncUnavailable
from infra.redis import layout
from infra.redis.checking import CHECK_SCRIPT
from infra.redis.queue import ArqJobQueue, create_arq, create_redis_pool, outbox_job_id
from infra.settings import Settings
from jobs import worker as worker_module
from jobs.worker import JOB_LOCK_SECONDS, LockRenewingWorker
from tests.support.helpers import (
    Org,
    SlowSmtpSink,
    SmtpSink,
    add_listed_number,
    arq_for,
    forget_mirror,
    mirror_for,
    new_org,
    outbox_rows,
    uow_for,
)
from tests.support.processes import Workers, eventually, polled, worker_env
from tests.support.servers import ThrottledProxy

ROWS = 200_000
FIRST = 12122000000  # the organization lists FIRST .. FIRST + ROWS - 1 (+1 212 200-219 xxxx)
SAMPLE = [str(FIRST + i) for i in range(0, ROWS, ROWS // 40)] + [str(FIRST + ROWS - 1)]
NOT_LISTED = "12125550100"
IN_PROGRESS = "arq:in-progress:"  # arq's lock on a running job: a new worker skips the job
RERUN_WITHIN = JOB_LOCK_SECONDS + 15  # the lock's expiry, then the job itself, with room


@pytest.fixture
def slow_smtp() -> Iterator[SlowSmtpSink]:
    with SlowSmtpSink() as sink:
        try:
            yield sink
        finally:
            sink.data_delay = 0  # a message on its way is answered at once, then it stops


async def lock_ttl_ms(settings: Settings, job_id: str) -> int:
    async with arq_for(settings) as redis:
        ttl: int = await redis.pttl(IN_PROGRESS + job_id)
        return ttl


# -- a rebuild -----------------------------------------------------------------------------


async def list_numbers(settings: Settings, org: Org) -> None:
    """ROWS numbers straight into Postgres, as ``tests/bench`` loads its lists."""
    connection = await asyncpg.connect(settings.database_url)
    try:
        await connection.execute(
            "INSERT INTO dnc_entries (id, organization_id, phone_number, source) "
            "SELECT gen_random_uuid(), $1, ($2::bigint + i)::text, 'import' "
            "FROM generate_series(0, $3 - 1) AS i",
            org.id, FIRST, ROWS,
        )  # fmt: skip
        await connection.execute("ANALYZE dnc_entries")  # as autovacuum would, in time
    finally:
        await connection.close()


async def loading(settings: Settings, org_id: UUID) -> tuple[bytes, int] | None:
    """The generation a rebuild is building and how many numbers it holds so far."""
    async with mirror_for(settings) as mirror:
        meta = await cast(
            Awaitable[dict[bytes, bytes]], mirror.redis.hgetall(mirror.meta_key(org_id))
        )
        if b"bgen" not in meta:
            return None
        generation, buckets = meta[b"bgen"], int(meta[b"bbuckets"])
        async with mirror.redis.pipeline(transaction=False) as pipe:
            for bucket in range(buckets):
                pipe.scard(mirror.bucket_key(org_id, generation.decode(), bucket))
            return generation, sum(await pipe.execute())


async def watch_checks(
    settings: Settings, org: Org, seen: Counter[str], stop: asyncio.Event
) -> None:
    """Ask as dialers do, over and over: check.lua itself, and the Python client (which asks
    the API when the mirror is not ready). Listed numbers must never come back callable."""
    async with (
        arq_for(settings) as redis,
        AsyncTestClient(app=create_app(settings)) as api,
    ):
        api.headers.update(org.headers)
        script = redis.register_script(CHECK_SCRIPT)
        keys = layout.check_keys(settings.redis_prefix, org.id)
        numbers = ",".join([*SAMPLE, NOT_LISTED])
        dialer = DncClient(
            redis=redis, organization_id=org.id, http=api, prefix=settings.redis_prefix
        )
        while not stop.is_set():
            reply = await script(keys=keys, args=["o", numbers])
            if reply[1] == 0:  # not ready
                seen["unknown"] += 1
            else:
                assert reply == [1, 1, b"", b"1" * len(SAMPLE) + b"0"], reply
                seen["listed"] += 1
            try:
                result = await dialer.check(SAMPLE)
            except DncUnavailable:  # "do not dial": unknown, never callable
                seen["client:unavailable"] += 1
            else:
                assert all(verdict.blocked for verdict in result.verdicts), result
                seen[f"client:{result.source}"] += 1
            await asyncio.sleep(0.02)


@pytest.fixture
async def big_org(settings: Settings) -> Org:
    """An organization whose ROWS numbers Redis has lost: its mirror reads as unknown."""
    if settings.mirror_redis_cluster:
        pytest.skip("the slow link stands in front of one Redis, not of a cluster's nodes")
    org = await new_org(settings, "Big Dialer")
    async with mirror_for(settings) as mirror:
        await forget_mirror(mirror, org.id)
    await list_numbers(settings, org)
    return org


@dataclass
class Watch:
    seen: Counter[str]
    stop: asyncio.Event
    task: "asyncio.Task[None]"

    async def answered(self, answer: str, more_than: int) -> bool:
        if self.task.done():  # a wrong answer ends the watcher: raise its AssertionError
            self.task.result()
        return self.seen[answer] > more_than

    async def finish(self) -> None:
        """Stop between two checks (cancelling the in-process API mid-request can hang its
        shutdown), then raise whatever the watcher found."""
        self.stop.set()
        await asyncio.wait({self.task}, timeout=15)
        assert self.task.done(), "the watcher did not stop"
        self.task.result()


@pytest.fixture
async def checks(settings: Settings, big_org: Org) -> AsyncIterator[Watch]:
    seen: Counter[str] = Counter()
    stop = asyncio.Event()
    watch = Watch(seen, stop, asyncio.create_task(watch_checks(settings, big_org, seen, stop)))
    try:
        yield watch
    finally:
        if not watch.task.done():  # the test failed before finishing it
            with contextlib.suppress(Exception):
                await watch.finish()


async def test_a_worker_killed_mid_rebuild_is_replaced_and_the_rebuild_runs_again(
    settings: Settings, big_org: Org, checks: Watch, workers: Workers
) -> None:
    org = big_org
    redis = urlsplit(settings.redis_url)
    # the first worker reaches Redis over a slow link (~1 MB/s): its load takes seconds
    slow = ThrottledProxy(redis.port or 6379, bytes_per_second=1_000_000)
    slow.start()
    try:
        async with arq_for(settings) as arq:
            job_id = await ArqJobQueue(arq, settings).enqueue_rebuild(org.id)
        first = workers.start(
            worker_env(settings, redis._replace(netloc=f"127.0.0.1:{slow.port}").geturl())
        )

        async def partly_loaded() -> tuple[bytes, int] | None:
            build = await loading(settings, org.id)
            return build if build and build[1] > 0 else None

        await eventually(partly_loaded, 30, "the rebuild loading", workers)
        workers.kill(first)
    finally:
        slow.close()  # and whatever it still held for Redis is dropped

    # mid-way, provably: a generation being built, part of the list in it, nothing live
    build = await loading(settings, org.id)
    assert build is not None
    stale_generation, loaded = build
    assert 0 < loaded < ROWS
    async with mirror_for(settings) as mirror:
        state = await mirror.state(org.id)
    assert (state.ready, state.generation, state.building) == (False, None, True)
    # the dead worker's lock on the job outlives it, briefly
    assert 0 < await lock_ttl_ms(settings, job_id) <= JOB_LOCK_SECONDS * 1000

    workers.start(worker_env(settings))

    async def rebuilt() -> bool:
        async with mirror_for(settings) as mirror:
            state = await mirror.state(org.id)
        return state.ready and state.rebuilt_count == ROWS and not state.building

    await eventually(rebuilt, RERUN_WITHIN, "the rebuild run again by the new worker", workers)
    async with arq_for(settings) as arq:

        async def finished() -> bool:  # arq takes the job off the queue once it has returned
            return await arq.zscore(settings.queue_name, job_id) is None

        await eventually(finished, 10, "the rebuild job finished", workers)
        leftovers = [
            key
            async for key in arq.scan_iter(
                match=f"{settings.redis_prefix}:{{{org.id}}}:n:{stale_generation.decode()}:*"
            )
        ]
    assert leftovers == []  # the half-built generation was thrown away

    # the watcher saw the mirror unknown (while no worker or a dead one held the job), then
    # ready, and never a listed number callable
    assert await checks.answered("unknown", 0)
    ready_so_far = checks.seen["listed"]
    await eventually(lambda: checks.answered("listed", ready_so_far + 2), 10, "checks", workers)
    await checks.finish()
    async with uow_for(settings) as uow, mirror_for(settings) as mirror:
        drift = await verify(uow, mirror, org.id)
    assert (drift.ready, drift.postgres, drift.redis, drift.drifted) == (True, ROWS, ROWS, False)


# -- the admins' email ---------------------------------------------------------------------


async def test_a_worker_killed_mid_send_is_replaced_and_each_admin_gets_the_email(
    settings: Settings, slow_smtp: SlowSmtpSink, workers: Workers
) -> None:
    smtp = replace(settings, smtp_host="127.0.0.1", smtp_port=slow_smtp.port, mail_from="dnc@test")
    org = await new_org(smtp, "Mail Crash Inc")
    await org.add_user("admin")
    admins = sorted([org.admin_email, *await admin_emails(smtp, org)])
    assert len(admins) == 2
    # the server has taken in both messages when the worker dies, and answers neither; it has
    # committed the first admin's (a real server may: its "250" was never read), not the other's
    slow_smtp.data_delay = 30
    slow_smtp.commit_before_reply = {admins[0]}
    await add_listed_number(smtp, org)
    rows = await outbox_rows(smtp)
    assert len(rows) == 2

    first = workers.start(worker_env(smtp))
    await eventually(
        polled(lambda: slow_smtp.data_started >= 2), 30, "both emails in DATA", workers
    )
    workers.kill(first)
    slow_smtp.data_delay = 0
    assert [str(m["To"]) for m in slow_smtp.messages] == [admins[0]]
    assert all(row["processed_at"] is None for row in await outbox_rows(smtp))
    for row in rows:
        assert (
            0 < await lock_ttl_ms(smtp, outbox_job_id(smtp, row["id"])) <= JOB_LOCK_SECONDS * 1000
        )

    workers.start(worker_env(smtp))

    async def delivered() -> bool:
        return all(row["processed_at"] is not None for row in await outbox_rows(smtp))

    await eventually(delivered, RERUN_WITHIN, "both emails sent by the new worker", workers)
    received: dict[str, list[str]] = {}
    for message in slow_smtp.messages:
        received.setdefault(str(message["To"]), []).append(str(message["Message-ID"]))
    assert sorted(received) == admins
    # The first admin's server got the message twice, with one Message-ID: the outbox row's,
    # the key on which mail systems drop a duplicate. The other admin got it exactly once.
    expected = {f"<dnc-outbox-{row['id']}@{org.id}.dnc>" for row in rows}
    assert len(received[admins[0]]) == 2
    assert len(set(received[admins[0]])) == 1
    assert len(received[admins[1]]) == 1
    assert {ids[0] for ids in received.values()} == expected
    assert all(row["attempts"] == 0 for row in await outbox_rows(smtp))  # no failure recorded


async def admin_emails(settings: Settings, org: Org) -> list[str]:
    connection = await asyncpg.connect(settings.database_url)
    try:
        rows = await connection.fetch(
            "SELECT email FROM users WHERE organization_id = $1 AND role = 'admin' AND email <> $2",
            org.id, org.admin_email,
        )  # fmt: skip
        return [row["email"] for row in rows]
    finally:
        await connection.close()


async def test_smtp_down_for_a_while_the_worker_retries_then_delivers(
    smtp_settings: Settings, smtp: SmtpSink, org: Org, workers: Workers
) -> None:
    smtp.stop()
    await add_listed_number(smtp_settings, org)
    workers.start(worker_env(smtp_settings))

    async def failed_twice() -> bool:
        rows = await outbox_rows(smtp_settings)
        return bool(rows) and rows[0]["attempts"] >= 2

    await eventually(failed_twice, 30, "two failed attempts", workers)
    [row] = await outbox_rows(smtp_settings)
    assert row["last_error"]
    assert row["processed_at"] is None
    assert smtp.messages == []
    smtp.start()

    async def delivered() -> bool:
        return (await outbox_rows(smtp_settings))[0]["processed_at"] is not None

    await eventually(delivered, 30, "the email delivered once SMTP is back", workers)
    assert [str(m["To"]) for m in smtp.messages] == [org.admin_email]
    assert str(smtp.messages[0]["Message-ID"]) == f"<dnc-outbox-{row['id']}@{org.id}.dnc>"


# -- the lock that lets a dead worker's job run again --------------------------------------


async def test_a_running_job_keeps_its_lock_however_long_it_runs(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The other side of a short lock: the worker running a job renews it, so no worker
    starts the job again while it runs (here: 2.5 s against a 1 s lock; without the renewal,
    this very worker would start it again after 1 s, the job still being in its queue)."""
    monkeypatch.setattr(worker_module, "JOB_LOCK_SECONDS", 1)
    monkeypatch.setattr(worker_module, "JOB_LOCK_RENEW_SECONDS", 0.2)
    starts: list[float] = []

    async def long_job(ctx: dict[str, Any]) -> None:
        starts.append(asyncio.get_running_loop().time())
        await asyncio.sleep(2.5)

    job_id = f"{settings.redis_prefix}:long"
    worker = LockRenewingWorker(
        functions=[func(long_job, name="long_job")],
        queue_name=settings.queue_name,
        redis_pool=create_arq(create_redis_pool(settings, "dnc-tests"), settings),
        burst=True,
        handle_signals=False,
        poll_delay=0.05,
        keep_result=0,
    )
    async with arq_for(settings) as arq:
        await arq.enqueue_job("long_job", _job_id=job_id)
    try:
        await asyncio.wait_for(worker.main(), timeout=20)
    finally:
        await worker.close()
    assert len(starts) == 1
    assert await lock_ttl_ms(settings, job_id) == -2  # released when the job ended
