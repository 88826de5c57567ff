"""Phone normalization: what callers send, and what the service stores."""

import random

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import InvalidPhoneNumber
from domain.phone import _normalize_in_full, fast_normalize, normalize, normalize_or_none


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("2125551234", "12125551234"),  # national NANP: read as +1
        ("(212) 555-1234", "12125551234"),
        ("212.555.1234", "12125551234"),
        ("12125551234", "12125551234"),
        ("+1 212 555 1234", "12125551234"),
        ("  +1-212-555-1234 ", "12125551234"),
        ("+44 20 7946 0958", "442079460958"),
        ("442079460958", "442079460958"),
        ("+39 06 6982 0000", "390669820000"),  # Italy keeps its leading zero
        ("+49 30 901820", "4930901820"),
    ],
)
def test_accepted_forms(raw: str, expected: str) -> None:
    assert normalize(raw) == expected


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("12345", "not a valid phone number"),
        ("0123456789", "not a valid phone number"),
        ("+1 555", "not a valid phone number"),
        ("1-800-FLOWERS", "only digits"),
        ("+1 212 555 1234 ext 5", "only digits"),
        ("++12125551234", "only digits"),
        ("9" * 41, "only digits"),
    ],
)
def test_rejected_forms_say_why_and_how(raw: str, fragment: str) -> None:
    with pytest.raises(InvalidPhoneNumber) as caught:
        normalize(raw)
    assert fragment in caught.value.message
    assert "+12125551234" in caught.value.message  # an example of what works


def _example_numbers() -> list[phonenumbers.PhoneNumber]:
    found = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in (phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.MOBILE):
            number = phonenumbers.example_number_for_type(region, kind)
            if number is not None and phonenumbers.is_valid_number(number):
                found.append(number)
    return found


EXAMPLES = _example_numbers()
SEPARATORS = st.sampled_from([" ", "-", ".", "", "  "])


@given(st.sampled_from(EXAMPLES), SEPARATORS, st.sampled_from(["", " ", "\t"]))
def test_any_valid_number_in_any_written_form_normalizes_to_its_e164_digits(
    number: phonenumbers.PhoneNumber, separator: str, padding: str
) -> None:
    e164 = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
    written = phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL)
    written = padding + written.replace(" ", separator).replace("-", separator) + padding
    assert normalize(written) == e164[1:]
    assert normalize(e164) == e164[1:]
    assert normalize("+" + normalize(written)) == e164[1:]  # stable on its own output


@given(st.integers(2, 9), st.integers(0, 99), st.integers(2, 9), st.integers(0, 999_999))
def test_ten_digits_are_a_nanp_number(area: int, area_rest: int, exchange: int, line: int) -> None:
    national = f"{area}{area_rest:02d}{exchange}{line:06d}"
    parsed = phonenumbers.parse("+1" + national)
    if phonenumbers.is_valid_number(parsed):
        assert normalize(national) == "1" + national
    else:
        with pytest.raises(InvalidPhoneNumber):
            normalize(national)


def test_more_digits_than_e164_allows_are_refused() -> None:
    with pytest.raises(InvalidPhoneNumber, match="more than 15 digits"):
        normalize("+49 30 1234565887994")


# The fast path answers like the full path, for every input ---------------------------------


def _full(raw: str) -> str | None:
    """What ``normalize`` answers without its fast path: the digits, or None if refused."""
    try:
        return _normalize_in_full(raw)
    except InvalidPhoneNumber:
        return None


def _either(raw: str) -> str | None:
    try:
        return normalize(raw)
    except InvalidPhoneNumber:
        return None


NANP_SHAPED = st.builds(
    lambda lead, digits, separators: (
        lead + "".join(d + separators[i % len(separators)] for i, d in enumerate(digits))
    ),
    st.sampled_from(["", "1", "+1", "+", "0", "+0", " +1 ", "1-", "+1 (", "(", "+ 1"]),
    st.text(alphabet="0123456789", min_size=9, max_size=11),
    st.lists(st.sampled_from(["", "", "", " ", "-", ".", "(", ")", "+", "\t"]), min_size=1),
)


@settings(max_examples=3000)
@given(NANP_SHAPED)
def test_fast_path_equals_phonenumbers_on_nanp_shaped_input(raw: str) -> None:
    fast = fast_normalize(raw)
    if fast is not None:  # the fast path answered: it must be the full path's answer
        assert (fast or None) == _full(raw)
    assert _either(raw) == _full(raw)


@settings(max_examples=1000)
@given(st.text(alphabet="+0123456789 ()-.\t٣²", max_size=20))
def test_fast_path_equals_phonenumbers_on_any_text(raw: str) -> None:
    fast = fast_normalize(raw)
    if fast is not None:
        assert (fast or None) == _full(raw)
    assert _either(raw) == _full(raw)


def test_fast_path_agrees_on_every_area_code() -> None:
    """Ten exchanges of each of the 1,000 area codes (the table is per six-digit prefix)."""
    rng = random.Random(5)
    for area in range(1000):
        for _ in range(10):
            national = f"{area:03d}{rng.randrange(10_000_000):07d}"
            fast = fast_normalize("+1" + national)
            assert fast is None or (fast or None) == _full("+1" + national), national


def test_fast_path_leaves_other_shapes_to_phonenumbers() -> None:
    assert fast_normalize("+44 20 7946 0958") is None
    assert fast_normalize("(212) 555-1234") == "12125551234"
    assert fast_normalize("+1 212 555 1234") == "12125551234"
    assert fast_normalize(" 2125551234\t") is None  # a tab: only the full path strips it
    assert fast_normalize("2125551234" + " " * 31) is None  # over 40 characters: the full path
    assert fast_normalize("+12125551234") == "12125551234"
    assert fast_normalize("2125551234") == "12125551234"
    assert fast_normalize("+11125551234") == ""  # area codes do not start with 1


@pytest.mark.parametrize(
    "raw", ["(+65) 9234 5678", "(+65)92345678", ".+6592345678", "-+6592345678", "( +65 92345678"]
)
def test_a_plus_before_the_first_digit_is_never_dropped(raw: str) -> None:
    """Only a leading '+' makes a number international; one after a separator but before any
    digit is refused, never dropped: dropping it read +65 9234 5678 as the NANP 16592345678."""
    assert normalize_or_none(raw) is None
    with pytest.raises(InvalidPhoneNumber):
        normalize(raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("+1+212+555+1234", "12125551234"),  # how requests and httpx send "+1 212 555 1234"
        ("+65+9234+5678", "6592345678"),
        ("1+212+555+1234", "12125551234"),
        (" +6592345678", "6592345678"),
    ],
)
def test_a_plus_after_the_first_digit_is_a_separator(raw: str, expected: str) -> None:
    assert normalize_or_none(raw) == expected
    assert normalize(raw) == expected
