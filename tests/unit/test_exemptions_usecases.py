"""Exemptions against the in-memory unit of work and mirror: what is written with one (the row,
the audit event, the mirror-sync message), when Redis learns of it (after the commit for a new
one, before the commit for a deletion), and every input refused. How checks honour them is
tested with the checks. The same paths run against real Postgres and Redis in tests/api."""

from datetime import UTC, datetime, timedelta
from typing import Any
from unittest.mock import patch
from uuid import uuid4

import pytest

from domain.errors import InvalidInput, InvalidPhoneNumber, NotFound, Unavailable
from domain.model import Exemption
from domain.rules import add_months
from domain.time import utcnow
from domain.usecases.exemptions import (
    create_exemption,
    delete_exemption,
    get_exemption,
    page_exemptions,
)
from domain.usecases.mirror_sync import MIRROR_SYNC
from tests.unit.world import World

A = "12125550100"
B = "12125550101"
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def frozen_clock() -> Any:
    """Every use case reads the clock through ``domain.usecases.exemptions.utcnow``."""
    with patch("domain.usecases.exemptions.utcnow", return_value=NOW) as clock:
        yield clock


async def exempt(
    world: World, number: str = A, basis: str = "ebr_purchase", since: datetime | None = None
) -> Exemption:
    when = since if since is not None or basis == "written_consent" else NOW - timedelta(days=30)
    return await create_exemption(world.uow, world.mirror, world.principal, number, basis, when)


def outbox_payloads(world: World) -> list[dict[str, object]]:
    return [m.payload for m in world.uow.committed.outbox if m.kind == MIRROR_SYNC]


async def test_an_exemption_is_stored_audited_and_reaches_redis_after_its_commit(
    world: World,
) -> None:
    since = datetime(2026, 5, 31, 18, 0, tzinfo=UTC)
    committed_at_write: list[bool] = []
    original = world.mirror.set_exemptions

    async def spy(*args: Any, **kwargs: Any) -> None:
        committed_at_write.append(bool(world.uow.committed.exemptions))
        await original(*args, **kwargs)

    with patch.object(world.mirror, "set_exemptions", spy):
        made = await create_exemption(
            world.uow, world.mirror, world.principal, "+1 (212) 555-0100", "ebr_purchase", since
        )
    assert committed_at_write == [True]  # an unblocking write: only once it is committed
    assert (made.phone_number, made.basis, made.since) == (A, "ebr_purchase", since)
    assert made.lapses_at == datetime(2027, 11, 30, 18, 0, tzinfo=UTC)  # May 31 + 18 months
    assert (made.organization_id, made.created_by, made.created_at) == (
        world.org,
        world.principal.user_id,
        NOW,
    )
    assert await get_exemption(world.uow, world.org, str(made.id)) == made
    [event] = [e for e in world.uow.committed.audit if e.action == "exemption.add"]
    assert (event.phone_number, event.entity_id, event.actor_user_id) == (
        A,
        str(made.id),
        world.principal.user_id,
    )
    assert event.after == {
        "basis": "ebr_purchase",
        "since": "2026-05-31T18:00:00+00:00",
        "lapsesAt": "2027-11-30T18:00:00+00:00",
    }
    assert outbox_payloads(world) == [{"numbers": [], "exemptions": [A]}]
    assert world.pending_syncs() == 0  # the sync after the commit applied it
    assert world.mirror.exemptions[world.org] == {A: made.lapses_at}
    assert await world.mirror.exemption_count(world.org) == 1


async def test_an_inquiry_lapses_after_3_months_and_consent_never(world: World) -> None:
    inquiry = await exempt(world, A, "ebr_inquiry", datetime(2026, 8, 31, tzinfo=UTC))
    assert inquiry.lapses_at == datetime(2026, 11, 30, tzinfo=UTC)
    consent = await exempt(world, B, "written_consent")
    assert (consent.since, consent.lapses_at) == (NOW, None)  # since defaults to now
    assert world.mirror.exemptions[world.org] == {A: inquiry.lapses_at, B: None}
    [event] = [e for e in world.uow.committed.audit if e.entity_id == str(consent.id)]
    assert event.after == {"basis": "written_consent", "since": NOW.isoformat(), "lapsesAt": None}


async def test_several_exemptions_of_one_number_lift_until_the_last_lapses(world: World) -> None:
    short = await exempt(world, A, "ebr_inquiry", NOW - timedelta(days=10))
    long = await exempt(world, A, "ebr_purchase", NOW - timedelta(days=10))
    assert short.lapses_at is not None
    assert long.lapses_at is not None
    assert short.lapses_at < long.lapses_at
    assert world.mirror.exemptions[world.org] == {A: long.lapses_at}
    consent = await exempt(world, A, "written_consent")
    assert world.mirror.exemptions[world.org] == {A: None}
    await delete_exemption(world.uow, world.mirror, world.principal, str(consent.id))
    assert world.mirror.exemptions[world.org] == {A: long.lapses_at}
    await delete_exemption(world.uow, world.mirror, world.principal, str(long.id))
    assert world.mirror.exemptions[world.org] == {A: short.lapses_at}
    await delete_exemption(world.uow, world.mirror, world.principal, str(short.id))
    assert world.mirror.exemptions[world.org] == {}
    assert await world.mirror.exemption_count(world.org) == 0


async def test_a_lapsed_exemption_stays_listed_and_counted_until_it_is_deleted(
    world: World,
) -> None:
    """A lapsed exemption still gives its number's last lapse (checks compare it with the
    time of the check: a lapse in the past lifts nothing); only deleted ones are gone."""
    old = await exempt(world, A, "ebr_purchase", add_months(NOW, -17))
    with patch("domain.usecases.exemptions.utcnow", return_value=add_months(NOW, 2)):
        assert old.lapses_at is not None
        assert old.lapses_at < add_months(NOW, 2)
        page = await page_exemptions(world.uow, world.org, None, 1, 10)
    assert page.items == [old]  # lapsed, still listed until deleted
    assert await world.uow.exemptions.lapses(world.org, [A, B]) == {A: old.lapses_at}


@pytest.mark.parametrize(
    ("basis", "since", "fragment"),
    [
        ("ebr", NOW, "basis 'ebr' is not one of ebr_purchase, ebr_inquiry, written_consent"),
        ("EBR_PURCHASE", NOW, "is not one of"),
        ("", NOW, "is not one of"),
        ("ebr_purchase", None, "since (when the last purchase was made) is required"),
        ("ebr_inquiry", None, "since (when the inquiry was made) is required"),
        ("ebr_purchase", datetime(2026, 1, 1), "since needs a timezone"),  # noqa: DTZ001
        ("written_consent", datetime(2026, 1, 1), "since needs a timezone"),  # noqa: DTZ001
        ("ebr_purchase", NOW + timedelta(minutes=5, seconds=1), "must not be in the future"),
        ("written_consent", NOW + timedelta(days=1), "must not be in the future"),
        ("ebr_inquiry", add_months(NOW, -3), "lapsed at 2026-11-23T10:00:00+00:00"),
        ("ebr_inquiry", datetime(2026, 7, 1, tzinfo=UTC), "lapsed at 2026-10-01T00:00:00+00:00"),
        ("ebr_purchase", add_months(NOW, -18) - timedelta(seconds=1), "lapsed at"),
        ("ebr_purchase", datetime.fromisoformat("0001-01-01T00:00:00+01:00"), "out of range"),
    ],
)
async def test_a_bad_basis_or_since_is_refused_and_nothing_is_written(
    world: World, basis: str, since: datetime | None, fragment: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        await create_exemption(world.uow, world.mirror, world.principal, A, basis, since)
    assert fragment in refused.value.message
    assert world.uow.committed.exemptions == {}
    assert outbox_payloads(world) == []
    assert "exemption.add" not in world.actions()


async def test_since_may_be_a_little_ahead_of_our_clock_and_up_to_the_lapse(world: World) -> None:
    ahead = await exempt(world, A, "ebr_purchase", NOW + timedelta(minutes=5))
    assert ahead.since == NOW + timedelta(minutes=5)
    nearly = await exempt(world, B, "ebr_inquiry", add_months(NOW, -3) + timedelta(seconds=1))
    assert nearly.lapses_at == NOW + timedelta(seconds=1)
    offset = datetime.fromisoformat("2026-11-01T09:00:00-05:00")
    kept = await exempt(world, A, "ebr_inquiry", offset)
    assert kept.since.isoformat() == "2026-11-01T14:00:00+00:00"  # stored in UTC


@pytest.mark.parametrize("raw", ["", "12345", "not a number", "+999 555 0100", "2125550100x"])
async def test_an_invalid_number_is_refused(world: World, raw: str) -> None:
    with pytest.raises(InvalidPhoneNumber):
        await exempt(world, raw)
    assert world.uow.committed.exemptions == {}


async def test_a_deletion_reaches_redis_before_its_commit(world: World) -> None:
    made = await exempt(world)
    deleted_at_write: list[bool] = []
    original = world.mirror.set_exemptions

    async def spy(*args: Any, **kwargs: Any) -> None:
        deleted_at_write.append(made.id in world.uow.committed.deleted_exemptions)
        await original(*args, **kwargs)

    with patch.object(world.mirror, "set_exemptions", spy):
        deleted = await delete_exemption(world.uow, world.mirror, world.principal, str(made.id))
    assert deleted == made
    assert deleted_at_write[0] is False  # Redis blocked the number again before the commit
    assert world.uow.committed.deleted_exemptions == {made.id: world.principal.user_id}
    assert world.mirror.exemptions[world.org] == {}
    [event] = [e for e in world.uow.committed.audit if e.action == "exemption.delete"]
    assert (event.phone_number, event.entity_id) == (A, str(made.id))
    assert event.before == {
        "basis": "ebr_purchase",
        "since": made.since.isoformat(),
        "lapsesAt": made.lapses_at.isoformat() if made.lapses_at else None,
    }
    assert outbox_payloads(world) == [{"numbers": [], "exemptions": [A]}] * 2
    assert world.pending_syncs() == 0
    with pytest.raises(NotFound, match=f"No exemption {made.id}"):
        await get_exemption(world.uow, world.org, str(made.id))
    with pytest.raises(NotFound):
        await delete_exemption(world.uow, world.mirror, world.principal, str(made.id))


async def test_a_deletion_redis_cannot_take_deletes_nothing(world: World) -> None:
    made = await exempt(world)
    world.mirror.down = True
    with pytest.raises(Unavailable):
        await delete_exemption(world.uow, world.mirror, world.principal, str(made.id))
    assert world.uow.committed.deleted_exemptions == {}
    assert "exemption.delete" not in world.actions()
    assert len(outbox_payloads(world)) == 1  # the creation's only
    world.mirror.down = False
    assert await get_exemption(world.uow, world.org, str(made.id)) == made
    assert world.mirror.exemptions[world.org] == {A: made.lapses_at}


async def test_a_creation_redis_cannot_take_now_is_kept_for_the_relay(world: World) -> None:
    """Committed first: the number stays blocked by the shared lists until the relay applies
    the outbox message (the safe direction), and the caller gets the exemption."""
    world.mirror.down = True
    made = await exempt(world)
    assert world.uow.committed.exemptions == {made.id: made}
    assert world.pending_syncs() == 1
    assert world.mirror.exemptions == {}


async def test_another_organizations_exemption_is_not_found(world: World) -> None:
    theirs = world.new_org("Other")
    made = await create_exemption(world.uow, world.mirror, theirs, A, "written_consent", None)
    with pytest.raises(NotFound):
        await get_exemption(world.uow, world.org, str(made.id))
    with pytest.raises(NotFound):
        await delete_exemption(world.uow, world.mirror, world.principal, str(made.id))
    assert (await page_exemptions(world.uow, world.org, None, 1, 10)).total == 0
    assert world.uow.committed.deleted_exemptions == {}
    assert world.mirror.exemptions.get(world.org, {}) == {}
    assert world.mirror.exemptions[theirs.organization_id] == {A: None}
    with pytest.raises(NotFound):
        await get_exemption(world.uow, world.org, str(uuid4()))


@pytest.mark.parametrize("raw", ["not-an-id", "", "1234", "g" * 32, "' OR 1=1 --"])
async def test_an_id_that_is_no_uuid_is_refused(world: World, raw: str) -> None:
    with pytest.raises(InvalidInput, match="is not a UUID"):
        await get_exemption(world.uow, world.org, raw)
    with pytest.raises(InvalidInput, match="is not a UUID"):
        await delete_exemption(world.uow, world.mirror, world.principal, raw)


async def test_exemptions_are_paged_newest_first_and_filtered_by_number(world: World) -> None:
    made = []
    for minutes, number in enumerate([A, B, A]):
        with patch(
            "domain.usecases.exemptions.utcnow", return_value=NOW + timedelta(minutes=minutes)
        ):
            made.append(await exempt(world, number, "written_consent"))
    page = await page_exemptions(world.uow, world.org, None, 1, 2)
    assert (page.items, page.total) == ([made[2], made[1]], 3)
    page = await page_exemptions(world.uow, world.org, None, 2, 2)
    assert (page.items, page.total) == ([made[0]], 3)
    page = await page_exemptions(world.uow, world.org, "+1 212-555-0100", 1, 10)
    assert (page.items, page.total) == ([made[2], made[0]], 2)
    await delete_exemption(world.uow, world.mirror, world.principal, str(made[2].id))
    page = await page_exemptions(world.uow, world.org, A, 1, 10)
    assert (page.items, page.total) == ([made[0]], 1)
    assert (await page_exemptions(world.uow, world.org, None, 9, 10)).items == []


@pytest.mark.parametrize(
    ("phone", "page", "limit", "error"),
    [
        (None, 0, 10, InvalidInput),
        (None, 1, 0, InvalidInput),
        (None, 1, 1001, InvalidInput),
        (None, 1_000_001, 10, InvalidInput),
        ("", 1, 10, InvalidPhoneNumber),
        ("12345", 1, 10, InvalidPhoneNumber),
    ],
)
async def test_a_bad_page_or_number_filter_is_refused(
    world: World, phone: str | None, page: int, limit: int, error: type[Exception]
) -> None:
    with pytest.raises(error):
        await page_exemptions(world.uow, world.org, phone, page, limit)


async def test_the_fake_mirror_keeps_exemptions_as_redis_would(world: World) -> None:
    """``set_exemptions`` stores, clears and replaces; a number both stored and cleared is
    cleared (blocked); the count is unknown while the mirror is not ready."""
    mirror, later = world.mirror, utcnow() + timedelta(days=1)
    await mirror.set_exemptions(world.org, {A: later, B: None})
    await mirror.set_exemptions(world.org, {B: later}, clear=[A])
    assert mirror.exemptions[world.org] == {B: later}
    await mirror.set_exemptions(world.org, {A: None}, clear=[A])
    assert mirror.exemptions[world.org] == {B: later}
    await mirror.set_exemptions(world.org, {A: None}, replace=True)
    assert mirror.exemptions[world.org] == {A: None}
    await mirror.set_subscriptions(world.org, ["registry-212"])
    assert mirror.subscriptions[world.org] == ["registry-212"]
    mirror.restart()
    assert await mirror.exemption_count(world.org) is None
    assert (mirror.exemptions, mirror.subscriptions) == ({}, {})
