"""A check at a past moment, before it reaches the history: how ``at`` is read, and that a
database that cannot answer is a refusal (503), never a guess."""

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from domain.errors import InvalidInput, Unavailable
from domain.usecases.as_of import check_numbers_at, parse_at
from tests.unit.fakes import FakeUnitOfWork


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2026-11-01T10:03:00Z", datetime(2026, 11, 1, 10, 3, tzinfo=UTC)),
        ("2026-11-01t10:03:00z", datetime(2026, 11, 1, 10, 3, tzinfo=UTC)),
        ("2026-11-01T10:03:00-04:00", datetime(2026, 11, 1, 14, 3, tzinfo=UTC)),
        ("2026-11-01T10:03:00.250+01:00", datetime(2026, 11, 1, 9, 3, 0, 250000, tzinfo=UTC)),
        (" 2026-11-01T10:03Z ", datetime(2026, 11, 1, 10, 3, tzinfo=UTC)),
    ],
)
def test_a_moment_with_a_timezone_is_read_in_utc(raw: str, expected: datetime) -> None:
    assert parse_at(raw) == expected


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("2026-11-01T10:03:00", "needs a timezone"),
        ("2026-11-01", "needs a timezone"),
        ("", "at is empty"),
        ("   ", "at is empty"),
        ("yesterday", "ISO 8601"),
        ("2026-02-30T10:03:00Z", "ISO 8601"),
        ("2026-11-01T10:03:00+24:00", "ISO 8601"),
        ("\uff12\uff10\uff12\uff16-11-01T10:03:00Z", "ISO 8601"),  # digits that are not ASCII
        ("2026-11-01T10:03:00Z\x00", "ISO 8601"),
        ("9999-12-31T23:59:59-01:00", "out of range"),
        ("2026-11-01T10:03:00Z" + "0" * 60, "ISO 8601"),
    ],
)
def test_anything_else_is_a_400(raw: str, fragment: str) -> None:
    with pytest.raises(InvalidInput, match=fragment):
        parse_at(raw)


async def test_the_future_is_a_400_before_the_database_is_asked() -> None:
    uow = FakeUnitOfWork()
    uow.fail_next = AssertionError("the database was asked")
    later = datetime.now(UTC) + timedelta(seconds=5)
    with pytest.raises(InvalidInput, match="in the future"):
        await check_numbers_at(uow, uuid4(), ["12125551234"], [], later)


async def test_a_database_that_cannot_answer_is_a_refusal() -> None:
    uow = FakeUnitOfWork()
    uow.fail_next = ConnectionError("Postgres is away")
    with pytest.raises(Unavailable, match="retry"):
        await check_numbers_at(uow, uuid4(), ["12125551234"], [], datetime.now(UTC))
