"""The rules every path that lists a number shares (domain/rules.py)."""

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from domain.errors import InvalidInput
from domain.rules import SOURCE_BULK, blocks, expiry, new_entry

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def test_an_expiry_must_be_in_the_future() -> None:
    assert expiry(None, NOW) is None
    assert expiry(NOW + timedelta(seconds=1), NOW) == NOW + timedelta(seconds=1)
    for past in (NOW, NOW - timedelta(days=1)):
        with pytest.raises(InvalidInput, match="expiresAt must be in the future"):
            expiry(past, NOW)


def test_an_expiry_without_a_timezone_is_refused() -> None:
    with pytest.raises(InvalidInput):
        expiry(datetime(2030, 1, 1), NOW)  # noqa: DTZ001 - the point of the test


def test_an_entry_blocks_until_it_expires() -> None:
    org = uuid4()
    forever = new_entry(org, "12125550100", None, NOW, SOURCE_BULK, None, None)
    later = new_entry(org, "12125550100", None, NOW, SOURCE_BULK, "x", NOW + timedelta(hours=1))
    assert blocks(forever, NOW)
    assert blocks(later, NOW)
    assert not blocks(later, NOW + timedelta(hours=1))
    assert later.source == SOURCE_BULK
    assert later.batch_id is None
    assert later.created_at == NOW
