"""Keeping each organization's Redis mirror equal to Postgres, change by change.

Every transaction that changes what a check answers writes a ``mirror.sync`` outbox message
naming the numbers it touched. :func:`sync_mirror` applies those messages: holding a
per-organization lock, it reads the *current* truth for the named numbers from Postgres and
writes it to Redis in one atomic script. Because each application re-reads the truth and
applications are serialized, the order in which writes happened cannot leave Redis stale.
(Rebuilding and comparing the whole mirror: :mod:`domain.usecases.mirror_repair`.)
"""

import logging
from collections.abc import Iterable, Sequence
from uuid import UUID

from domain.ports import DncMirror, UnitOfWork
from domain.time import utcnow

log = logging.getLogger(__name__)

MIRROR_SYNC = "mirror.sync"
APPLY_CHUNK = 10_000
SYNC_BATCH = 500  # outbox messages applied per transaction


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
            numbers = {n for message in pending for n in numbers_of(message.payload)}
            await write_truth(uow, mirror, organization_id, numbers)
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


async def write_truth(
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


def numbers_of(payload: dict[str, object]) -> list[str]:
    numbers = payload.get("numbers", [])
    return [str(n) for n in numbers] if isinstance(numbers, list) else []
