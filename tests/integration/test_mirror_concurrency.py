"""Randomized concurrent adds, removes and rebuilds of the same numbers, with dialers checking
Redis all along. No check may call a number callable once its add has returned (unless a
removal overlapped), and once everything settles Redis holds exactly what Postgres holds."""

import asyncio
import random
import time
from dataclasses import dataclass, field
from uuid import uuid4

from domain.errors import AlreadyListed, NotFound
from domain.model import AddNumber, NewCall, Principal
from domain.usecases.entries import add_number, remove_number
from domain.usecases.evidence import create_batch, record_calls
from domain.usecases.mirror_repair import rebuild_mirror, verify
from domain.usecases.mirror_sync import sync_all
from infra.db.uow import SqlUnitOfWork, create_engine, create_sessionmaker
from infra.redis.mirror import RedisMirror
from infra.redis.queue import ArqJobQueue
from infra.settings import Settings
from tests.support.helpers import Org, arq_for, mirror_for

NUMBERS = [f"1212555010{i}" for i in range(1, 6)]
WRITERS, OPERATIONS, CHECKERS = 3, 50, 2


@dataclass
class History:
    adds: dict[str, list[tuple[float, float]]] = field(
        default_factory=lambda: {n: [] for n in NUMBERS}
    )
    removes: dict[str, list[tuple[float, float]]] = field(
        default_factory=lambda: {n: [] for n in NUMBERS}
    )
    checks: list[tuple[float, dict[str, bool]]] = field(default_factory=list)
    unknown: int = 0

    def must_block(self, number: str, at: float) -> bool:
        """Some add of the number returned before ``at`` and no removal since could undo it."""
        return any(
            a1 < at and not any(r0 < at and r1 > a0 for r0, r1 in self.removes[number])
            for a0, a1 in self.adds[number]
        )


class Scenario:
    def __init__(
        self, settings: Settings, org: Org, mirror: RedisMirror, queue: ArqJobQueue
    ) -> None:
        self.seed = random.randrange(2**32)
        self.rng = random.Random(self.seed)
        self.org = org
        self.mirror = mirror
        self.queue = queue
        self.principal = Principal(org.admin_id, org.id, "admin", "full", uuid4())
        self.engine = create_engine(settings, "dnc-tests")
        self.history = History()
        self.calls: dict[str, list[str]] = {}
        self.done = asyncio.Event()

    def unit(self) -> SqlUnitOfWork:
        return SqlUnitOfWork(create_sessionmaker(self.engine))

    async def record_calls(self) -> None:
        for i, number in enumerate(NUMBERS):
            await create_batch(self.unit(), self.principal, f"b{i}", None)
            new = [NewCall(number) for _ in range(WRITERS * OPERATIONS)]
            records = await record_calls(self.unit(), self.principal, f"b{i}", new)
            self.calls[number] = [r.request_uuid for r in records]

    async def writer(self) -> None:
        unit = self.unit()
        for _ in range(OPERATIONS):
            number = self.rng.choice(NUMBERS)
            started = time.monotonic()
            try:
                if self.rng.random() < 0.55:
                    cmd = AddNumber(number, f"b{NUMBERS.index(number)}", self.calls[number].pop())
                    await add_number(unit, self.mirror, self.queue, self.principal, cmd)
                    self.history.adds[number].append((started, time.monotonic()))
                else:
                    await remove_number(unit, self.mirror, self.principal, number, "test")
                    self.history.removes[number].append((started, time.monotonic()))
            except (AlreadyListed, NotFound):
                pass
            await asyncio.sleep(self.rng.random() * 0.003)

    async def rebuilder(self) -> None:
        unit = self.unit()
        while not self.done.is_set():
            await rebuild_mirror(unit, self.mirror, self.org.id)
            await asyncio.sleep(0.02 + self.rng.random() * 0.03)

    async def checker(self) -> None:
        while not self.done.is_set():
            started = time.monotonic()
            answer = await self.mirror.check(self.org.id, NUMBERS)
            if answer.ready:
                self.history.checks.append(
                    (started, dict(zip(NUMBERS, answer.listed, strict=True)))
                )
            else:
                self.history.unknown += 1
            await asyncio.sleep(self.rng.random() * 0.002)

    async def run(self) -> None:
        background = [asyncio.create_task(self.rebuilder())]
        background += [asyncio.create_task(self.checker()) for _ in range(CHECKERS)]
        await asyncio.gather(*(self.writer() for _ in range(WRITERS)))
        self.done.set()
        await asyncio.gather(*background)

    def violations(self) -> list[tuple[str, float]]:
        return [
            (number, at)
            for at, listed in self.history.checks
            for number, hit in listed.items()
            if not hit and self.history.must_block(number, at)
        ]


async def test_concurrent_adds_removes_and_rebuilds(settings: Settings, org: Org) -> None:
    async with mirror_for(settings) as mirror, arq_for(settings) as arq:
        scenario = Scenario(settings, org, mirror, ArqJobQueue(arq, settings))
        try:
            await scenario.record_calls()
            await scenario.run()
            seed, history = scenario.seed, scenario.history
            assert not scenario.violations(), f"seed {seed}: {scenario.violations()[:5]}"
            assert sum(map(len, history.adds.values())) > 10, f"seed {seed}: too few adds"
            assert sum(map(len, history.removes.values())) > 5, f"seed {seed}: too few removes"
            assert len(history.checks) > 50, f"seed {seed}: too few checks"
            unit = scenario.unit()
            await sync_all(unit, mirror)
            drift = await verify(unit, mirror, org.id)
            assert not drift.drifted, f"seed {seed}: {drift}"
        finally:
            await scenario.engine.dispose()
