"""The rules every path that lists a number shares (domain/rules.py)."""

from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from domain.errors import InvalidInput
from domain.model import ExemptionBasis
from domain.rules import SOURCE_BULK, blocks, exemption_lapse, expiry, new_entry

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


def at(text: str) -> datetime:
    return datetime.fromisoformat(text)


@pytest.mark.parametrize(
    ("basis", "since", "lapses"),
    [
        # the day of the month is kept, or clamped to the last day of a shorter month
        ("ebr_purchase", "2026-01-15T13:45:10.250000+00:00", "2027-07-15T13:45:10.250000+00:00"),
        ("ebr_purchase", "2025-08-31T09:00:00+00:00", "2027-02-28T09:00:00+00:00"),
        ("ebr_purchase", "2026-08-31T09:00:00+00:00", "2028-02-29T09:00:00+00:00"),  # leap
        ("ebr_purchase", "2024-02-29T00:00:00+00:00", "2025-08-29T00:00:00+00:00"),
        ("ebr_purchase", "2026-12-31T23:59:59+00:00", "2028-06-30T23:59:59+00:00"),
        ("ebr_inquiry", "2026-11-30T12:00:00+00:00", "2027-02-28T12:00:00+00:00"),
        ("ebr_inquiry", "2027-11-30T12:00:00+00:00", "2028-02-29T12:00:00+00:00"),  # leap
        ("ebr_inquiry", "2026-01-31T00:00:00+00:00", "2026-04-30T00:00:00+00:00"),
        ("ebr_inquiry", "2026-10-15T08:00:00+00:00", "2027-01-15T08:00:00+00:00"),
        ("ebr_inquiry", "2024-02-29T06:00:00+00:00", "2024-05-29T06:00:00+00:00"),
        ("ebr_inquiry", "2100-11-30T00:00:00+00:00", "2101-02-28T00:00:00+00:00"),  # no leap
        # months are counted in UTC: 23:30 in New York on Aug 31 is Sep 1 in UTC
        ("ebr_inquiry", "2026-08-31T23:30:00-05:00", "2026-12-01T04:30:00+00:00"),
        ("ebr_purchase", "2026-03-01T00:30:00+01:00", "2027-08-28T23:30:00+00:00"),
    ],
)
def test_an_exemption_lapses_calendar_months_later_in_utc(
    basis: ExemptionBasis, since: str, lapses: str
) -> None:
    lapse = exemption_lapse(basis, at(since))
    assert lapse == at(lapses)
    assert lapse is not None
    assert lapse.utcoffset() == timedelta(0)
    assert lapse.isoformat() == lapses  # UTC itself, not merely the same instant


def test_written_consent_never_lapses() -> None:
    assert exemption_lapse("written_consent", NOW) is None
    assert exemption_lapse("written_consent", at("2000-01-31T00:00:00-08:00")) is None


def test_an_exemption_since_without_a_timezone_or_past_the_calendar_is_refused() -> None:
    with pytest.raises(InvalidInput, match="since needs a timezone"):
        exemption_lapse("ebr_purchase", datetime(2026, 1, 1))  # noqa: DTZ001 - the point
    with pytest.raises(InvalidInput, match="after the year 9999"):
        exemption_lapse("ebr_purchase", at("9999-01-01T00:00:00+00:00"))
    with pytest.raises(InvalidInput, match="out of range"):
        exemption_lapse("ebr_inquiry", at("0001-01-01T00:00:00+01:00"))
