"""When a CSV import runs, and what its failure means, against in-memory transfers and queue
(milliseconds each). The staging, the row rules and the set-based listing run against real
Postgres and Redis in tests/integration/test_import_*.py."""

import asyncio
from collections.abc import AsyncIterator
from uuid import uuid4

import pytest

from domain.errors import NotFound, Unavailable
from domain.model import Principal
from domain.time import utcnow
from domain.usecases.transfer import (
    INLINE_ROWS,
    QUEUE_UNREACHABLE,
    get_import,
    import_list,
    process_queued,
    process_waited,
    relay_lost_imports,
)
from tests.unit.fakes import FakeMirror, FakeQueue, FakeTransfers, FakeUnitOfWork


class World:
    def __init__(self) -> None:
        self.transfers = FakeTransfers()
        self.queue = FakeQueue()
        self.mirror = FakeMirror()
        self.principal = Principal(uuid4(), uuid4(), "admin", "full", uuid4())

    async def upload(self, rows: int) -> tuple[bool, str, str | None]:
        """Import a file of ``rows`` rows: (queued, the import's status, the job id)."""
        started = await import_list(
            FakeUnitOfWork(), self.transfers, self.queue, self.mirror, self.principal, csv(rows)
        )
        return started.queued, started.report.status, started.job_id


@pytest.fixture
def world() -> World:
    return World()


async def csv(rows: int) -> AsyncIterator[bytes]:
    yield b"phoneNumber\n"
    yield b"2125550100\n" * rows


async def test_a_small_file_is_processed_at_once(world: World) -> None:
    assert await world.upload(3) == (False, "done", None)
    assert len(world.transfers.processed) == 1
    assert world.queue.imports == []


async def test_a_file_of_exactly_the_inline_limit_is_processed_at_once(world: World) -> None:
    assert await world.upload(INLINE_ROWS) == (False, "done", None)
    assert world.queue.imports == []


async def test_a_large_file_is_queued_with_its_job_id_and_not_processed(world: World) -> None:
    queued, status, job_id = await world.upload(INLINE_ROWS + 1)
    [import_id] = world.queue.imports
    assert (queued, status, job_id) == (True, "queued", f"import:{import_id}")
    assert world.transfers.processed == []
    report = await get_import(world.transfers, world.principal, import_id)
    assert (report.status, report.rows) == ("queued", INLINE_ROWS + 1)


async def test_a_large_file_with_the_queue_down_is_refused_and_stays_staged(
    world: World,
) -> None:
    """The caller is told to retry; the staged import is left queued, not failed, so that the
    worker's relay still runs it once the queue is back."""
    world.queue.down = True
    with pytest.raises(Unavailable) as refused:
        await world.upload(INLINE_ROWS + 1)
    assert refused.value.message == QUEUE_UNREACHABLE
    assert refused.value.message == "The job queue (Redis) is unreachable; retry the import"
    [(_, report)] = world.transfers.imports.values()
    assert report.status == "queued"
    assert world.transfers.processed == []

    world.queue.down = False
    lost = await relay_lost_imports(world.transfers, world.queue, utcnow(), 3)
    assert lost.retry == [report.id] == world.queue.imports
    assert (await relay_lost_imports(world.transfers, world.queue, utcnow(), 3)).retry == []


async def test_a_small_file_with_the_queue_down_is_still_processed(world: World) -> None:
    world.queue.down = True
    assert await world.upload(3) == (False, "done", None)


async def test_an_inline_import_that_fails_is_failed_for_good_with_the_reason(
    world: World,
) -> None:
    world.transfers.fail_with = Unavailable("the mirror is away")
    with pytest.raises(Unavailable, match="the mirror is away"):
        await world.upload(3)
    [(_, report)] = world.transfers.imports.values()
    assert (report.status, report.failure) == ("failed", "Unavailable: the mirror is away")


async def test_an_inline_import_cancelled_with_its_request_is_failed(world: World) -> None:
    staged = await world.transfers.stage(world.principal.organization_id, None, csv(3))
    world.transfers.fail_with = asyncio.CancelledError()
    with pytest.raises(asyncio.CancelledError):
        await process_waited(world.transfers, world.mirror, staged.id)
    report = await get_import(world.transfers, world.principal, staged.id)
    assert (report.status, report.failure) == ("failed", "CancelledError")


async def test_a_queued_import_is_left_to_run_again_while_a_service_is_away(
    world: World,
) -> None:
    staged = await world.transfers.stage(world.principal.organization_id, None, csv(3))
    world.transfers.fail_with = Unavailable("the mirror is away")
    with pytest.raises(Unavailable):
        await process_queued(world.transfers, world.mirror, staged.id)
    assert (await get_import(world.transfers, world.principal, staged.id)).status == "queued"
    report = await process_queued(world.transfers, world.mirror, staged.id)
    assert (report.status, report.added) == ("done", 3)


async def test_a_queued_import_that_fails_otherwise_is_failed_for_good(world: World) -> None:
    staged = await world.transfers.stage(world.principal.organization_id, None, csv(3))
    world.transfers.fail_with = ValueError("a bug")
    with pytest.raises(ValueError, match="a bug"):
        await process_queued(world.transfers, world.mirror, staged.id)
    report = await get_import(world.transfers, world.principal, staged.id)
    assert (report.status, report.failure) == ("failed", "ValueError: a bug")


async def test_an_import_is_seen_only_by_its_organization(world: World) -> None:
    await world.upload(3)
    [import_id] = world.transfers.imports
    stranger = Principal(uuid4(), uuid4(), "admin", "full", uuid4())
    with pytest.raises(NotFound):
        await get_import(world.transfers, stranger, import_id)
