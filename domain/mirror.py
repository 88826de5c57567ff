"""Keeping each organization's Redis mirror equal to Postgres.

Every transaction that changes what a check answers writes a ``mirror.sync`` outbox message
naming the numbers it touched. :func:`sync_mirror` applies those messages: holding a
per-organization lock, it reads the *current* truth for the named numbers from Postgres and
writes it to Redis in one atomic script. Because each application re-reads the truth and
applications are serialized, the order in which writes happened cannot leave Redis stale.

A rebuild loads a new generation from Postgres while live writes reach both generations,
then swaps it in atomically; a reconciliation pass compares the two stores periodically.
"""

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from uuid import UUID

from domain.model import AuditEvent
from domain.ports import DncMirror, JobQueue, UnitOfWork
from domain.time import utcnow

log = logging.getLogger(__name__)

MIRROR_SYNC = "mirror.sync"
STREAM_CHUNK = 50_000
APPLY_CHUNK = 10_000
SYNC_BATCH = 500  # outbox messages applied per transaction
Progress = Callable[[int, int], None]


async def record_change(uow: UnitOfWork, organization_id: UUID, numbers: Iterable[str]) -> None:
    """Note, inside the caller's transaction, that these numbers' state may have changed."""
    await uow.outbox.add(organization_id, MIRROR_SYNC, {"numbers": sorted(set(numbers))})


async def apply_in_chunks(
    mirror: DncMirror,
    organization_id: UUID,
    add: Sequence[str] = (),
    remove: Sequence[str] = (),
    enabled: bool | None = None,
) -> None:
    """Several bounded script calls instead of one unbounded one."""
    for start in range(0, max(len(add), len(remove), 1), APPLY_CHUNK):
        end = start + APPLY_CHUNK
        await mirror.apply(organization_id, add[start:end], remove[start:end], enabled)


async def sync_mirror(uow: UnitOfWork, mirror: DncMirror, organization_id: UUID) -> int:
    """Apply every committed, unapplied change of one organization; returns how many."""
    applied = 0
    while True:
        async with uow:
            await uow.organizations.lock_mirror(organization_id)
            pending = await uow.outbox.pending_for(organization_id, MIRROR_SYNC, SYNC_BATCH)
            if not pending:
                return applied
            numbers = {n for message in pending for n in _numbers_of(message.payload)}
            await _write_truth(uow, mirror, organization_id, numbers)
            await uow.outbox.mark_processed_many([message.id for message in pending])
            await uow.commit()
        applied += len(pending)


async def sync_all(uow: UnitOfWork, mirror: DncMirror) -> int:
    """Apply the pending changes of every organization (the worker's periodic relay); one
    organization's failure does not hold up the others."""
    async with uow:
        organizations = await uow.outbox.organizations_pending(MIRROR_SYNC)
    applied = 0
    for organization_id in organizations:
        try:
            applied += await sync_mirror(uow, mirror, organization_id)
        except Exception:
            log.exception("mirror sync of %s failed; next round retries", organization_id)
    return applied


async def settle(uow: UnitOfWork, mirror: DncMirror, organization_id: UUID) -> bool:
    """Best-effort sync right after a commit; the periodic relay covers a failure."""
    try:
        await sync_mirror(uow, mirror, organization_id)
    except Exception:  # the change is committed; the relay will apply it
        log.warning(
            "mirror sync for %s failed; the relay will retry", organization_id, exc_info=True
        )
        return False
    return True


@dataclass(frozen=True, slots=True)
class RebuildReport:
    organization_id: UUID
    loaded: int
    swapped: bool


async def rebuild_mirror(
    uow: UnitOfWork,
    mirror: DncMirror,
    organization_id: UUID,
    actor_user_id: UUID | None = None,
    progress: Progress | None = None,
) -> RebuildReport:
    """Load the organization's list into a new generation and swap it in atomically."""
    async with uow:
        expected = await uow.entries.count_blocked(organization_id, utcnow())
        watermark = await uow.outbox.last_id()
    build = await mirror.begin_rebuild(organization_id, expected)
    loaded = 0
    async with uow:
        stream = uow.entries.stream_blocked_buckets(organization_id, utcnow(), build.buckets)
        async for groups in stream:
            await mirror.load_buckets(organization_id, build, groups)
            loaded += sum(len(members) for _, members in groups)
            if progress:
                progress(loaded, expected)
    async with uow:
        await uow.organizations.lock_mirror(organization_id)
        organization = await uow.organizations.get(organization_id)
        enabled = organization.dnc_enabled if organization else True
        swapped = await mirror.swap(organization_id, build, enabled, utcnow().isoformat(), loaded)
        if swapped:
            # Changes made while loading were written to the new generation too, but the load
            # may have re-added a number removed meanwhile: re-read those numbers' truth.
            touched = await uow.outbox.numbers_since(organization_id, MIRROR_SYNC, watermark)
            pending = await uow.outbox.pending_for(organization_id, MIRROR_SYNC)
            touched |= {n for message in pending for n in _numbers_of(message.payload)}
            await _write_truth(uow, mirror, organization_id, touched)
            await uow.outbox.mark_processed_many([message.id for message in pending])
            await uow.audit.record(
                AuditEvent(
                    organization_id=organization_id,
                    actor_user_id=actor_user_id,
                    action="cache.rebuild",
                    after={"count": loaded},
                )
            )
        await uow.commit()
    log.info("mirror of %s rebuilt: %d numbers (swapped=%s)", organization_id, loaded, swapped)
    return RebuildReport(organization_id, loaded, swapped)


@dataclass(frozen=True, slots=True)
class Drift:
    organization_id: UUID
    ready: bool
    postgres: int
    redis: int | None
    missing_in_redis: int = 0
    extra_in_redis: int = 0

    @property
    def drifted(self) -> bool:
        return not self.ready or self.missing_in_redis > 0 or self.extra_in_redis > 0


async def reconcile(uow: UnitOfWork, mirror: DncMirror, queue: JobQueue) -> list[Drift]:
    """Compare every organization's mirror with Postgres, number by number; a mirror that is
    not ready or differs in any number is rebuilt. One organization's failure does not stop
    the others."""
    await sync_all(uow, mirror)
    async with uow:
        organizations = await uow.organizations.ids()
    found = []
    for organization_id in organizations:
        try:
            drift = await verify(uow, mirror, organization_id)
            if drift.drifted:
                await queue.enqueue_rebuild(organization_id)
                log.warning("mirror drift, rebuild requested: %s", drift)
                found.append(drift)
        except Exception:
            log.exception("reconciling %s failed; next round retries", organization_id)
    return found


async def verify(uow: UnitOfWork, mirror: DncMirror, organization_id: UUID) -> Drift:
    """Compare every number of one organization (for ``dnc cache verify``)."""
    truth: set[int] = set()
    async with uow:
        async for chunk in uow.entries.stream_blocked(organization_id, utcnow(), STREAM_CHUNK):
            truth.update(int(n) for n in chunk)
    state = await mirror.state(organization_id)
    members = await mirror.members(organization_id) if state.ready else None
    if members is None:
        return Drift(organization_id, False, len(truth), None, len(truth), 0)
    return Drift(
        organization_id,
        True,
        len(truth),
        len(members),
        len(truth - members),
        len(members - truth),
    )


async def _write_truth(
    uow: UnitOfWork, mirror: DncMirror, organization_id: UUID, numbers: set[str]
) -> None:
    blocked = await uow.entries.blocked_among(organization_id, sorted(numbers), utcnow())
    organization = await uow.organizations.get(organization_id)
    await apply_in_chunks(
        mirror,
        organization_id,
        add=sorted(blocked),
        remove=sorted(numbers - blocked),
        enabled=organization.dnc_enabled if organization else None,
    )


def _numbers_of(payload: dict[str, object]) -> list[str]:
    numbers = payload.get("numbers", [])
    return [str(n) for n in numbers] if isinstance(numbers, list) else []
