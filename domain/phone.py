"""Phone numbers in, E.164 digits without ``+`` out.

The rules, in the order they apply:
- spaces, dashes, dots and parentheses are ignored; a ``+`` may lead; nothing else is allowed,
  except that a ``+`` after the first digit is a separator too (a form-encoding client, such
  as ``requests`` or ``httpx``, sends the spaces of ``+1 212 555 1234`` in a query as ``+``,
  which this API reads as a plus: ``app.query``);
- exactly ten digits without ``+`` are a national NANP number and read as ``+1``;
- anything else is read as an international number that starts with its country code;
- the result must be a valid number for its country (``phonenumbers``' metadata).
"""

import re

import phonenumbers

from domain.errors import InvalidPhoneNumber
from domain.nanp import INVALID, PREFIX_DIGITS, VALID, build_table

# a leading "+", then separators, then digits and separators, where "+" is a separator too
# once a digit has come: "(+65) 9234 5678" is refused, never read as the NANP 6592345678
_ALLOWED = re.compile(r"\+?[ ().\-]*[0-9][0-9 ().+\-]*")
_NON_DIGITS = re.compile(r"[^0-9]")
_SEPARATORS = (" ", "-", ".", "(", ")")
_TABLE: bytearray | None = None
_EXAMPLE = "send it in international form with its country code, e.g. +12125551234"
MAX_INPUT_LENGTH = 40
E164_MAX_DIGITS = 15


def normalize(raw: str) -> str:
    """Return ``raw`` as E.164 digits without ``+`` or raise :class:`InvalidPhoneNumber`."""
    number = fast_normalize(raw)
    if number:
        return number
    if number is not None:
        raise InvalidPhoneNumber(_not_valid(raw))
    return _normalize_in_full(raw)


def normalize_or_none(raw: str) -> str | None:
    """``normalize``, with None for a number it refuses (checks report those per number)."""
    number = fast_normalize(raw)
    if number is not None:
        return number or None
    try:
        return _normalize_in_full(raw)
    except InvalidPhoneNumber:
        return None


def fast_normalize(raw: str) -> str | None:
    """``normalize`` for the shapes dialers send most (a NANP number as 10 digits, or 11
    after an optional ``+``, written with or without spaces, dashes, dots and parentheses)
    in about a microsecond: the digits if valid, ``""`` if not, and None for every other
    shape, which only ``normalize`` itself answers. The validity comes from a table derived
    from ``phonenumbers``' own patterns (``domain.nanp``)."""
    if len(raw) > MAX_INPUT_LENGTH or not raw.isascii():
        return None
    plus = raw[:1] == "+"
    digits = raw[1:] if plus else raw
    if "+" in digits:  # a separator, or (after a space: " +65...") the lead: for the full path
        return None
    if not digits.isdigit():
        for separator in _SEPARATORS:  # str.replace x5 is faster than translate or re.sub
            digits = digits.replace(separator, "")
        if not digits.isdigit():  # empty, or something besides digits and separators
            return None
    if len(digits) == 10 and not plus:
        digits = "1" + digits
    elif len(digits) != 11 or digits[0] != "1":
        return None
    verdict = (_TABLE or nanp_table())[int(digits[1 : 1 + PREFIX_DIGITS])]
    if verdict == VALID:
        return digits
    return "" if verdict == INVALID else None  # DEPENDS: only phonenumbers can tell


def nanp_table() -> bytearray:
    """Built on first use (under a second); the API builds it at start-up."""
    global _TABLE  # built once, read on every check
    if _TABLE is None:
        _TABLE = build_table()
    return _TABLE


def _normalize_in_full(raw: str) -> str:
    text = raw.strip()
    if not text:
        raise InvalidPhoneNumber("phoneNumber is empty; " + _EXAMPLE)
    if len(text) > MAX_INPUT_LENGTH or not _ALLOWED.fullmatch(text):
        raise InvalidPhoneNumber(
            f"phoneNumber {_quote(raw)} may contain only digits, spaces, dashes, dots, "
            "parentheses and a leading '+'; " + _EXAMPLE
        )
    digits = _NON_DIGITS.sub("", text)
    if not text.startswith("+") and len(digits) == 10:
        digits = "1" + digits
    try:
        parsed = phonenumbers.parse("+" + digits, None)
    except phonenumbers.NumberParseException:
        parsed = None
    if parsed is None or not phonenumbers.is_valid_number(parsed):
        raise InvalidPhoneNumber(_not_valid(raw))
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)[1:]
    if len(e164) > E164_MAX_DIGITS:  # valid for its country, but longer than E.164 allows
        raise InvalidPhoneNumber(
            f"phoneNumber {_quote(raw)} has more than {E164_MAX_DIGITS} digits; {_EXAMPLE}"
        )
    return e164


def _not_valid(raw: str) -> str:
    return f"phoneNumber {_quote(raw)} is not a valid phone number; {_EXAMPLE}"


def _quote(raw: str) -> str:
    return repr(raw[:MAX_INPUT_LENGTH])
