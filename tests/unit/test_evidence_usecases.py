"""Batches and the calls recorded in them (domain/usecases/evidence.py), against the in-memory
fakes. The same requests run against real Postgres in tests/api/test_batches.py."""

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest

from domain.errors import Conflict, InvalidInput, NotFound
from domain.model import NewCall
from domain.usecases.evidence import MAX_CALLS_PER_REQUEST, create_batch, record_calls
from tests.unit.world import World


async def test_a_batch_gets_a_generated_id_or_keeps_the_one_given(world: World) -> None:
    named = await create_batch(world.uow, world.principal, "nov-2026.a:1", "November")
    generated = await create_batch(world.uow, world.principal, None, None)
    assert (named.batch_id, named.name) == ("nov-2026.a:1", "November")
    assert re.fullmatch("[0-9a-f]{24}", generated.batch_id)
    stored = world.uow.committed.batches
    assert {b.batch_id for b in stored.values()} == {"nov-2026.a:1", generated.batch_id}
    assert {(b.organization_id, b.user_id) for b in stored.values()} == {
        (world.org, world.principal.user_id)
    }


@pytest.mark.parametrize("batch_id", ["", "a b", "x" * 65, "semi;colon", "ünïcode"])
async def test_a_batch_id_outside_the_allowed_characters_is_refused(
    world: World, batch_id: str
) -> None:
    with pytest.raises(InvalidInput, match="batchId must be 1 to 64 characters"):
        await create_batch(world.uow, world.principal, batch_id, None)
    assert world.uow.committed.batches == {}


async def test_a_batch_name_must_be_one_line(world: World) -> None:
    with pytest.raises(InvalidInput, match="name must be one line of text"):
        await create_batch(world.uow, world.principal, "b", "line\nbreak")
    assert world.uow.committed.batches == {}


async def test_a_batch_id_is_taken_once_per_organization(world: World) -> None:
    await create_batch(world.uow, world.principal, "b", None)
    with pytest.raises(Conflict, match="Batch 'b' already exists"):
        await create_batch(world.uow, world.principal, "b", "again")
    other = world.new_org("Other")
    await create_batch(world.uow, other, "b", None)  # another organization's namespace
    assert len(world.uow.committed.batches) == 2


async def test_calls_are_stored_normalized_with_their_evidence(world: World) -> None:
    await create_batch(world.uow, world.principal, "b", None)
    started = datetime(2026, 11, 23, 10, 0, tzinfo=timezone(timedelta(hours=-5)))
    calls = [
        NewCall(
            "+1 (212) 555-0100",
            " r-1 ",
            "https://recordings.example.test/1.mp3",
            "Please stop calling.",
            "completed",
            started,
            42,
        ),
        NewCall("212.555.0101"),
    ]
    first, second = await record_calls(world.uow, world.principal, "b", calls)
    assert (first.phone_number, first.request_uuid) == ("12125550100", "r-1")
    assert first.started_at == datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
    assert first.started_at.tzinfo == UTC
    assert (first.recording_url, first.transcription, first.duration_seconds) == (
        "https://recordings.example.test/1.mp3",
        "Please stop calling.",
        42,
    )
    assert second.phone_number == "12125550101"
    assert second.request_uuid  # generated
    assert first.batch_id == second.batch_id == "b"
    assert set(world.uow.committed.calls) == {first.id, second.id}


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (NewCall("not a number"), "calls[1]."),
        (NewCall("2125550102", recording_url="ftp://x/y"), "calls[1].recordingUrl must be an"),
        (NewCall("2125550102", recording_url="https://"), "calls[1].recordingUrl must be an"),
        (NewCall("2125550102", request_uuid="  "), "calls[1].requestUUID must not be empty"),
        (
            NewCall("2125550102", started_at=datetime(2026, 1, 1)),  # noqa: DTZ001
            "calls[1].startedAt needs a timezone",
        ),
    ],
)
async def test_one_bad_call_refuses_the_request_naming_the_call(
    world: World, call: NewCall, message: str
) -> None:
    await create_batch(world.uow, world.principal, "b", None)
    with pytest.raises(InvalidInput) as refused:
        await record_calls(world.uow, world.principal, "b", [NewCall("2125550101"), call])
    assert refused.value.message.startswith(message)
    assert world.uow.committed.calls == {}  # the good call is not kept either


async def test_a_single_call_is_not_named_by_its_index(world: World) -> None:
    await create_batch(world.uow, world.principal, "b", None)
    with pytest.raises(InvalidInput) as refused:
        await record_calls(world.uow, world.principal, "b", [NewCall("2125550101", " ", "x")])
    assert refused.value.message == "recordingUrl must be an http or https URL"


async def test_a_request_uuid_is_unique_in_the_organization(world: World) -> None:
    await create_batch(world.uow, world.principal, "b", None)
    await create_batch(world.uow, world.principal, "c", None)
    twice = [NewCall("2125550101", "r"), NewCall("2125550102", "r")]
    with pytest.raises(InvalidInput, match="requestUUID 'r' appears twice"):
        await record_calls(world.uow, world.principal, "b", twice)
    await record_calls(world.uow, world.principal, "b", [NewCall("2125550101", "r")])
    with pytest.raises(Conflict, match="A call with requestUUID 'r' already exists"):
        await record_calls(world.uow, world.principal, "c", [NewCall("2125550102", "r")])
    assert len(world.uow.committed.calls) == 1


async def test_the_number_of_calls_per_request_is_bounded(world: World) -> None:
    await create_batch(world.uow, world.principal, "b", None)
    with pytest.raises(InvalidInput, match="calls must hold at least one call"):
        await record_calls(world.uow, world.principal, "b", [])
    too_many = [NewCall("2125550101") for _ in range(MAX_CALLS_PER_REQUEST + 1)]
    with pytest.raises(InvalidInput, match="at most 1000 calls can be recorded per request"):
        await record_calls(world.uow, world.principal, "b", too_many)
    assert world.uow.committed.calls == {}


@pytest.mark.parametrize("batch_id", ["missing", "not/an/id"])
async def test_calls_go_only_into_a_batch_of_the_callers_organization(
    world: World, batch_id: str
) -> None:
    other = world.new_org("Other")
    await create_batch(world.uow, other, "theirs", None)
    for unknown in (batch_id, "theirs"):
        with pytest.raises(NotFound, match=f"Batch {unknown!r} not found"):
            await record_calls(world.uow, world.principal, unknown, [NewCall("2125550101")])
    assert world.uow.committed.calls == {}
