"""Business-relationship exemptions: the organization may call a number whatever its shared
lists (registries) say, never against its own lists or prefix rules, until the exemption
lapses by itself (``domain.rules.exemption_lapse``) or is deleted.

The mirror is written as :mod:`domain.usecases.entries` writes it, erring towards blocking:
a new exemption unblocks, so it reaches Redis only through the sync after its commit (like a
removal); deleting one blocks again, so it reaches Redis before the commit, under the
organization's mirror lock (like an added number), and if Redis cannot take it nothing is
deleted.
"""

from datetime import datetime, timedelta
from uuid import UUID, uuid4

from domain.errors import InvalidInput, NotFound
from domain.model import (
    EXEMPTION_BASES,
    AuditEvent,
    Exemption,
    ExemptionBasis,
    ExemptionPage,
    PageRequest,
    Principal,
)
from domain.phone import normalize
from domain.ports import DncMirror, UnitOfWork
from domain.rules import exemption_lapse
from domain.time import as_utc, utcnow
from domain.usecases.mirror_sync import record_exemptions_changed, settle, write_exemptions

CLOCK_SKEW = timedelta(minutes=5)  # a caller's clock this far ahead of ours is not the future
_SINCE_IS = {"ebr_purchase": "the last purchase", "ebr_inquiry": "the inquiry"}


def basis_of(raw: str) -> ExemptionBasis:
    if raw not in EXEMPTION_BASES:
        raise InvalidInput(f"basis {raw!r} is not one of {', '.join(EXEMPTION_BASES)}")
    return raw


def exemption_id_of(raw: str) -> UUID:
    try:
        return UUID(raw)
    except ValueError:
        raise InvalidInput(f"exemption id {raw[:64]!r} is not a UUID") from None


def since_of(basis: ExemptionBasis, since: datetime | None, now: datetime) -> datetime:
    """When the relationship began, in UTC: required for a purchase or an inquiry (the clock
    runs from it), now by default for consent; never in the future."""
    if since is None:
        if basis in _SINCE_IS:
            raise InvalidInput(f"since (when {_SINCE_IS[basis]} was made) is required for {basis}")
        return now
    since = as_utc(since, "since")
    if since > now + CLOCK_SKEW:
        raise InvalidInput("since must not be in the future")
    return since


def _audited(exemption: Exemption) -> dict[str, object]:
    lapses_at = exemption.lapses_at
    return {
        "basis": exemption.basis,
        "since": exemption.since.isoformat(),
        "lapsesAt": lapses_at.isoformat() if lapses_at else None,
    }


async def create_exemption(
    uow: UnitOfWork,
    mirror: DncMirror,
    principal: Principal,
    phone_number: str,
    basis: str,
    since: datetime | None,
) -> Exemption:
    """A new exemption of one number (several may coexist), audited; it lifts the shared
    lists once the mirror sync after the commit has carried it to Redis."""
    number = normalize(phone_number)
    kind = basis_of(basis)
    now = utcnow()
    start = since_of(kind, since, now)
    lapses_at = exemption_lapse(kind, start)
    if lapses_at is not None and lapses_at <= now:
        raise InvalidInput(
            f"An exemption for {kind} since {start.isoformat()} lapsed at "
            f"{lapses_at.isoformat()}; there is nothing left to exempt"
        )
    org_id = principal.organization_id
    exemption = Exemption(uuid4(), org_id, number, kind, start, lapses_at, principal.user_id, now)
    async with uow:
        await uow.exemptions.add(exemption)
        await uow.audit.record(
            AuditEvent(
                organization_id=org_id,
                actor_user_id=principal.user_id,
                action="exemption.add",
                phone_number=number,
                entity_id=str(exemption.id),
                after=_audited(exemption),
            )
        )
        await record_exemptions_changed(uow, org_id, [number])
        await uow.commit()
    await settle(uow, mirror, org_id)  # a failure: the relay carries it, the number stays blocked
    return exemption


async def delete_exemption(
    uow: UnitOfWork, mirror: DncMirror, principal: Principal, exemption_id: str
) -> Exemption:
    """Delete a live exemption (its row is kept), audited. The number is blocked again by its
    shared lists in Redis before the commit; :class:`domain.errors.Unavailable` when Redis
    cannot take it, and then nothing is deleted."""
    wanted = exemption_id_of(exemption_id)
    org_id = principal.organization_id
    async with uow:
        exemption = await uow.exemptions.delete(org_id, wanted, principal.user_id)
        if exemption is None:
            raise NotFound(f"No exemption {wanted}")
        await uow.audit.record(
            AuditEvent(
                organization_id=org_id,
                actor_user_id=principal.user_id,
                action="exemption.delete",
                phone_number=exemption.phone_number,
                entity_id=str(exemption.id),
                before=_audited(exemption),
            )
        )
        await record_exemptions_changed(uow, org_id, [exemption.phone_number])
        await uow.organizations.lock_mirror(org_id)  # no sync interleaves until the commit
        await write_exemptions(uow, mirror, org_id, [exemption.phone_number])
        await uow.commit()
    await settle(uow, mirror, org_id)
    return exemption


async def get_exemption(uow: UnitOfWork, organization_id: UUID, exemption_id: str) -> Exemption:
    wanted = exemption_id_of(exemption_id)
    async with uow:
        exemption = await uow.exemptions.get(organization_id, wanted)
    if exemption is None:
        raise NotFound(f"No exemption {wanted}")
    return exemption


async def page_exemptions(
    uow: UnitOfWork, organization_id: UUID, phone_number: str | None, page: int, limit: int
) -> ExemptionPage:
    """The live exemptions (of one number, when given), newest first, lapsed ones included."""
    request = PageRequest(page, limit)  # the same bounds as the list's
    number = normalize(phone_number) if phone_number is not None else None
    async with uow:
        items = await uow.exemptions.page(organization_id, number, request.offset, limit)
        total = await uow.exemptions.count(organization_id, number)
    return ExemptionPage(items, total)
