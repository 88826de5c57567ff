"""Randomized concurrent imports (inline through two API servers, and in a real arq
worker), removes and expiries of the same numbers, with dialers asking GET /check, POST /check
and Redis directly all along. A number is never answered callable once an import holding it
has returned (unless a removal or an expiry could have overlapped), and at the end every number
listed in Postgres is blocked in Redis."""

import asyncio
import random
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from domain.time import utcnow
from domain.usecases.entries import expire_due
from domain.usecases.mirror_sync import sync_all
from infra.db.copy import stage_import
from infra.db.uow import SqlUnitOfWork, create_engine, create_sessionmaker
from infra.redis.mirror import RedisMirror
from infra.redis.queue import ArqJobQueue
from infra.settings import Settings
from tests.support.helpers import Org, arq_for, body, mirror_for, run_worker
from tests.support.processes import served_in_thread

NUMBERS = [f"1212555020{i}" for i in range(6)]
WRITERS, OPERATIONS, CHECKERS = 3, 14, 2
CSV = {"Content-Type": "text/csv"}
Span = tuple[float, float]


@dataclass
class History:
    adds: dict[str, list[Span]] = field(default_factory=lambda: {n: [] for n in NUMBERS})
    unblocks: dict[str, list[Span]] = field(default_factory=lambda: {n: [] for n in NUMBERS})
    checks: list[tuple[float, str, bool, str]] = field(default_factory=list)

    def must_block(self, number: str, at: float) -> bool:
        """An import of the number (no expiry) returned before ``at``, and nothing that could
        unblock it (a remove, or an entry with an expiry it may have been a duplicate of)
        overlapped the time from that import's start to ``at``."""
        return any(
            a1 < at and not any(r0 < at and r1 > a0 for r0, r1 in self.unblocks[number])
            for a0, a1 in self.adds[number]
        )


class Scenario:
    def __init__(
        self, settings: Settings, org: Org, apps: list[httpx.AsyncClient], mirror: RedisMirror
    ):
        self.seed = random.randrange(2**32)
        self.rng = random.Random(self.seed)
        self.settings, self.org, self.apps, self.mirror = settings, org, apps, mirror
        self.engine = create_engine(settings, "dnc-tests")
        self.history = History()
        self.done = asyncio.Event()
        self.expired = 0
        self.worker_imports = 0

    def unit(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(create_sessionmaker(self.engine))

    def app(self) -> httpx.AsyncClient:
        return self.rng.choice(self.apps)

    def rows(self) -> tuple[list[str], list[str], list[tuple[str, float]]]:
        """CSV lines, the numbers without expiry, and those with one (and its wall time)."""
        lines, plain, expiring = [], [], []
        for number in self.rng.sample(NUMBERS, self.rng.randint(1, 3)):
            if self.rng.random() < 0.25:
                at = datetime.now(UTC) + timedelta(seconds=0.5 + self.rng.random())
                lines.append(f"{number},{at.isoformat()}")
                expiring.append((number, at.timestamp()))
            else:
                lines.append(f"{number},")
                plain.append(number)
        return lines, plain, expiring

    async def import_inline(self, lines: list[str]) -> bool:
        text = "phoneNumber,expiresAt\n" + "\n".join(lines) + "\n"
        response = await self.app().post(
            "/api/dnc/import", content=text.encode(), headers={**self.org.headers, **CSV}
        )
        return response.status_code == 200 and body(response)["data"]["status"] == "done"

    async def import_in_worker(self, lines: list[str], queue: ArqJobQueue) -> bool:
        """Staged and enqueued as the API does for a large file; the worker runs it."""

        async def chunks() -> Any:
            yield ("phoneNumber,expiresAt\n" + "\n".join(lines) + "\n").encode()

        import_id, _ = await stage_import(self.engine, self.org.id, self.org.admin_id, chunks())
        await queue.enqueue_import(import_id)
        self.worker_imports += 1
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            response = await self.app().get(
                f"/api/dnc/imports/{import_id}", headers=self.org.headers
            )
            status = body(response)["data"]["status"]
            if status in ("done", "failed"):
                return bool(status == "done")
            await asyncio.sleep(0.02)
        raise AssertionError(f"import {import_id} did not finish")

    async def writer(self, queue: ArqJobQueue) -> None:
        for _ in range(OPERATIONS):
            started = time.time()
            if self.rng.random() < 0.6:
                lines, plain, expiring = self.rows()
                for number, at in expiring:  # from now on it may stop blocking
                    self.history.unblocks[number].append((started, at + 0.5))
                if self.rng.random() < 0.3:
                    ok = await self.import_in_worker(lines, queue)
                else:
                    ok = await self.import_inline(lines)
                if ok:
                    for number in plain:
                        self.history.adds[number].append((started, time.time()))
            else:
                number = self.rng.choice(NUMBERS)
                await self.app().post(
                    "/api/dnc/remove", json={"phoneNumber": number}, headers=self.org.headers
                )
                self.history.unblocks[number].append((started, time.time()))
            await asyncio.sleep(self.rng.random() * 0.01)

    async def worker(self) -> None:
        while not self.done.is_set():
            await run_worker(self.settings)
            await asyncio.sleep(0.02)

    async def expirer(self) -> None:
        while not self.done.is_set():
            self.expired += await expire_due(self.unit(), self.mirror)
            await asyncio.sleep(0.05)

    async def checker(self) -> None:
        org = self.org
        while not self.done.is_set():
            how = self.rng.choice(("get", "post", "redis"))
            started = time.time()
            if how == "get":
                number = self.rng.choice(NUMBERS)
                response = await self.app().get(
                    "/api/dnc/check", params={"phoneNumber": number}, headers=org.headers
                )
                found = {number: body(response)["data"]["blocked"]}
            elif how == "post":
                response = await self.app().post(
                    "/api/dnc/check", json={"phoneNumbers": NUMBERS}, headers=org.headers
                )
                found = {r["normalized"]: r["blocked"] for r in body(response)["data"]["results"]}
            else:
                answer = await self.mirror.check(org.id, NUMBERS)
                found = dict(zip(NUMBERS, answer.listed, strict=True)) if answer.ready else {}
            for number, blocked in found.items():
                self.history.checks.append((started, number, blocked, how))
            await asyncio.sleep(self.rng.random() * 0.005)

    async def seed_expiring(self) -> None:
        """Every number listed first with an expiry half a second away, so that expiries
        race the writers from the start."""
        started = time.time()
        at = datetime.now(UTC) + timedelta(seconds=0.5)
        for number in NUMBERS:
            self.history.unblocks[number].append((started, at.timestamp() + 0.5))
        assert await self.import_inline([f"{n},{at.isoformat()}" for n in NUMBERS])

    async def run(self, queue: ArqJobQueue) -> None:
        background = [asyncio.create_task(self.worker()), asyncio.create_task(self.expirer())]
        background += [asyncio.create_task(self.checker()) for _ in range(CHECKERS)]
        try:
            await self.seed_expiring()
            await asyncio.gather(*(self.writer(queue) for _ in range(WRITERS)))
            last = max(r1 for spans in self.history.unblocks.values() for _, r1 in spans)
            while time.time() < last:  # every expiry passes while the checks go on
                await asyncio.sleep(0.05)
        finally:
            self.done.set()
            await asyncio.gather(*background)

    def violations(self) -> list[tuple[float, str, bool, str]]:
        return [
            check
            for check in self.history.checks
            if not check[2] and self.history.must_block(check[1], check[0])
        ]


async def test_concurrent_imports_removes_and_expiries_never_unblock_a_listed_number(
    settings: Settings, org: Org
) -> None:
    with served_in_thread(settings) as first, served_in_thread(settings) as second:
        await _run(settings, org, first, second)


async def _run(settings: Settings, org: Org, first: str, second: str) -> None:
    async with (
        httpx.AsyncClient(base_url=first, timeout=60) as one,
        httpx.AsyncClient(base_url=second, timeout=60) as two,
        mirror_for(settings) as mirror,
        arq_for(settings) as arq,
    ):
        scenario = Scenario(settings, org, [one, two], mirror)
        try:
            await scenario.run(ArqJobQueue(arq, settings))
            seed, history = scenario.seed, scenario.history
            assert not scenario.violations(), f"seed {seed}: {scenario.violations()[:5]}"
            assert sum(map(len, history.adds.values())) > 10, f"seed {seed}: too few imports"
            assert scenario.worker_imports > 0, f"seed {seed}: no import ran in the worker"
            assert scenario.expired > 0, f"seed {seed}: nothing expired"
            assert len(history.checks) > 100, f"seed {seed}: too few checks"
            unit = scenario.unit()
            await sync_all(unit, mirror)  # the relay: applies what the writes recorded
            async with unit:
                listed = await unit.entries.blocked_among(org.id, NUMBERS, utcnow())
            answer = await mirror.check(org.id, NUMBERS)
            assert answer.ready
            in_redis = {n for n, hit in zip(NUMBERS, answer.listed, strict=True) if hit}
            assert listed <= in_redis, f"seed {seed}: listed but callable: {listed - in_redis}"
        finally:
            await scenario.engine.dispose()
