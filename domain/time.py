from datetime import UTC, datetime

from domain.errors import InvalidInput


def utcnow() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime, name: str) -> datetime:
    """A caller's time with a timezone, in UTC. A time whose UTC equivalent falls outside the
    years 1 to 9999 (``0001-01-01T00:00:00+01:00``, ``9999-12-31T23:59:59-01:00``) cannot be
    stored or compared: a 400 naming the field, not a failure in the database driver."""
    if value.tzinfo is None:
        raise InvalidInput(f"{name} needs a timezone, e.g. 2026-11-23T10:00:00Z")
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise InvalidInput(
            f"{name} is out of range: its time in UTC is not in the years 1 to 9999"
        ) from None
