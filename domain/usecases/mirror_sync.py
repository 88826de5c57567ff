"""Keeping each organization's Redis mirror equal to Postgres, change by change.

Every transaction that changes what a check answers writes a ``mirror.sync`` outbox message
naming the numbers it touched and their list (or a list deleted, or the prefix rules
changed). :func:`sync_mirror` applies those messages: holding a per-organization lock, it
reads the *current* truth for the named numbers from Postgres and writes it to Redis in one
atomic script a list. Because each application re-reads the truth and
applications are serialized, the order in which writes happened cannot leave Redis stale.
(Rebuilding and comparing the whole mirror: :mod:`domain.usecases.mirror_repair`.)
"""

import logging
import operator
from collections.abc import Iterable, Sequence
from itertools import islice
from uuid import UUID

from domain.model import DEFAULT_LIST, MirrorState, WrittenChange
from domain.ports import DncMirror, UnitOfWork
from domain.time import utcnow

log = logging.getLogger(__name__)

MIRROR_SYNC = "mirror.sync"
APPLY_CHUNK = 10_000
SYNC_BATCH = 500  # outbox messages applied per transaction


async def record_change(
    uow: UnitOfWork, organization_id: UUID, numbers: Iterable[str], list_id: str = DEFAULT_LIST
) -> int:
    """Note, inside the caller's transaction, that these numbers' state on the list may have
    changed (no numbers: the DNC flag may have); the message's id."""
    named = list(numbers)
    if not all(map(operator.lt, named, islice(named, 1, None))):  # an import's are in order
        named = sorted(set(named))
    payload: dict[str, object] = {"numbers": named}
    if list_id != DEFAULT_LIST:
        payload["list"] = list_id
    return await uow.outbox.add(organization_id, MIRROR_SYNC, payload)


async def record_list_dropped(uow: UnitOfWork, organization_id: UUID, list_id: str) -> None:
    """Note, inside the caller's transaction, that a named list was deleted."""
    await uow.outbox.add(organization_id, MIRROR_SYNC, {"numbers": [], "dropped": list_id})


async def record_prefixes_changed(uow: UnitOfWork, organization_id: UUID) -> None:
    """Note, inside the caller's transaction, that the prefix rules changed."""
    await uow.outbox.add(organization_id, MIRROR_SYNC, {"numbers": [], "prefixes": True})


async def record_exemptions_changed(
    uow: UnitOfWork, organization_id: UUID, numbers: Iterable[str]
) -> None:
    """Note, inside the caller's transaction, that these numbers' exemptions changed."""
    await uow.outbox.add(
        organization_id, MIRROR_SYNC, {"numbers": [], "exemptions": sorted(set(numbers))}
    )


async def record_subscriptions_changed(uow: UnitOfWork, organization_id: UUID) -> None:
    """Note, inside the caller's transaction, that the organization's subscriptions changed."""
    await uow.outbox.add(organization_id, MIRROR_SYNC, {"numbers": [], "subscriptions": True})


async def write_exemptions(
    uow: UnitOfWork, mirror: DncMirror, organization_id: UUID, numbers: Iterable[str]
) -> None:
    """These numbers' exemptions as Postgres has them now: when each lapses, or none."""
    wanted = sorted(set(numbers))
    for start in range(0, len(wanted), APPLY_CHUNK):
        part = wanted[start : start + APPLY_CHUNK]
        lapses = await uow.exemptions.lapses(organization_id, part)
        await mirror.set_exemptions(
            organization_id, lapses, clear=[n for n in part if n not in lapses]
        )


async def write_subscriptions(uow: UnitOfWork, mirror: DncMirror, organization_id: UUID) -> None:
    subscribed = await uow.shared_lists.subscribed(organization_id)
    await mirror.set_subscriptions(organization_id, [shared.id for shared in subscribed])


async def apply_in_chunks(
    mirror: DncMirror,
    organization_id: UUID,
    add: Sequence[str] = (),
    remove: Sequence[str] = (),
    enabled: bool | None = None,
    list_id: str = DEFAULT_LIST,
) -> None:
    """Several bounded script calls instead of one unbounded one."""
    for start in range(0, max(len(add), len(remove), 1), APPLY_CHUNK):
        end = start + APPLY_CHUNK
        await mirror.apply(organization_id, add[start:end], remove[start:end], enabled, list_id)


async def sync_mirror(uow: UnitOfWork, mirror: DncMirror, organization_id: UUID) -> int:
    """Apply every committed, unapplied change of one organization; returns how many."""
    applied = 0
    while True:
        async with uow:
            await uow.organizations.lock_mirror(organization_id)
            pending = await uow.outbox.pending_for(organization_id, MIRROR_SYNC, SYNC_BATCH)
            if not pending:
                return applied
            await apply_changes(uow, mirror, organization_id, [m.payload for m in pending])
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


async def settle_written(
    uow: UnitOfWork, mirror: DncMirror, organization_id: UUID, written: WrittenChange
) -> bool:
    """:func:`settle`, after the commit of a change whose numbers were written to the mirror
    before it (:func:`domain.usecases.entries.list_many`: a million of them, for an import).
    If the list's mirror is still the generation they were written to, ready, and no rebuild
    has begun since (a rebuild's new generation might lack them: its swap applies what is
    still pending), then only later changes can have touched those numbers, and their own
    syncs apply them: the change is marked applied without writing its numbers again. In any
    other case (or if that fails) it is applied like any other, by :func:`settle`."""
    try:
        async with uow:
            await uow.organizations.lock_mirror(organization_id)
            now = await mirror.state(organization_id, written.list_id)
            if still_holds(written.written_to, now):
                await uow.outbox.mark_processed_many([written.change_id])
                await uow.commit()
    except Exception:  # settle below applies it, or the relay does
        log.warning("could not check the mirror of %s", organization_id, exc_info=True)
    return await settle(uow, mirror, organization_id)


def still_holds(written_to: MirrorState, now: MirrorState) -> bool:
    """Whether the live generation written to (ready, no rebuild under way) is still live,
    with no rebuild begun since."""
    return (
        written_to.ready
        and now.ready
        and not written_to.building
        and not now.building
        and written_to.generation is not None
        and written_to.generation == now.generation
    )


async def apply_changes(
    uow: UnitOfWork, mirror: DncMirror, organization_id: UUID, payloads: Sequence[dict[str, object]]
) -> None:
    """Write the current truth of what these change messages name: the numbers of each list
    (and the DNC flag with the org-wide list's), the prefix rules, the lists deleted."""
    touched: dict[str, set[str]] = {DEFAULT_LIST: set()}  # the flag is written with it
    dropped: set[str] = set()
    exempted: set[str] = set()
    prefixes = subscriptions = False
    for payload in payloads:
        touched.setdefault(list_of(payload), set()).update(numbers_of(payload))
        if isinstance(payload.get("dropped"), str):
            dropped.add(str(payload["dropped"]))
        prefixes = prefixes or payload.get("prefixes") is True
        subscriptions = subscriptions or payload.get("subscriptions") is True
        exempted.update(numbers_of(payload, "exemptions"))
    for list_id, numbers in touched.items():
        if list_id not in dropped:
            await write_truth(uow, mirror, organization_id, numbers, list_id)
    if prefixes:
        rules = await uow.prefixes.all(organization_id)
        await mirror.set_prefixes(organization_id, [rule.prefix for rule in rules])
    if exempted:
        await write_exemptions(uow, mirror, organization_id, exempted)
    if subscriptions:
        await write_subscriptions(uow, mirror, organization_id)
    for list_id in sorted(dropped):
        await mirror.drop_list(organization_id, list_id)


async def write_truth(
    uow: UnitOfWork,
    mirror: DncMirror,
    organization_id: UUID,
    numbers: set[str],
    list_id: str = DEFAULT_LIST,
) -> None:
    """The list's truth for these numbers; with the org-wide list, the DNC flag's too."""
    blocked = await uow.entries.blocked_among(organization_id, sorted(numbers), utcnow(), list_id)
    enabled = None
    if list_id == DEFAULT_LIST:
        organization = await uow.organizations.get(organization_id)
        enabled = organization.dnc_enabled if organization else None
    await apply_in_chunks(
        mirror,
        organization_id,
        add=sorted(blocked),
        remove=sorted(numbers - blocked),
        enabled=enabled,
        list_id=list_id,
    )


def numbers_of(payload: dict[str, object], field: str = "numbers") -> list[str]:
    numbers = payload.get(field, [])
    return [str(n) for n in numbers] if isinstance(numbers, list) else []


def list_of(payload: dict[str, object]) -> str:
    """The list a change message is about (messages written before lists name none)."""
    list_id = payload.get("list", DEFAULT_LIST)
    return list_id if isinstance(list_id, str) else DEFAULT_LIST
