"""Which NANP numbers (country code 1) ``phonenumbers`` calls valid, as a table read in O(1).

``phonenumbers.is_valid_number`` spends tens of microseconds a number running its regular
expressions. For a ten-digit NANP national number its answer depends only on those patterns:
the first region of country code 1 that claims the number (by ``leading_digits``, or by
matching one of its number types) decides, and the number is valid if it matches a type of
that region. This module reads the same patterns from ``phonenumbers``' metadata and works
out, for every six-digit prefix (area code and exchange), whether all ten-digit numbers that
start with it are valid, none are, or it depends on the last four digits. Only the first two
answers are used; ``DEPENDS`` sends the caller to ``phonenumbers`` itself, so the table can
never disagree with it (``tests/unit/test_phone.py`` checks that property).

The patterns are walked with Brzozowski derivatives over their ``re`` parse trees: the
derivative of a pattern by a digit is the pattern of what may follow that digit.
"""

from __future__ import annotations

import importlib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

from phonenumbers import PhoneMetadata
from phonenumbers.phonenumberutil import COUNTRY_CODE_TO_REGION_CODE

# The ``re`` module's own parser: private, but stable across the versions we support, and the
# only way to read a pattern exactly as ``re`` reads it.
_sre: Any = importlib.import_module("re._constants")
_sre_parse: Any = importlib.import_module("re._parser")

INVALID, VALID, DEPENDS = 0, 1, 2
PREFIX_DIGITS = 6
NATIONAL_DIGITS = 10
_PREFIXES: int = 10**PREFIX_DIGITS
_DIGITS = "0123456789"
_TYPES = (
    "premium_rate",
    "toll_free",
    "shared_cost",
    "voip",
    "personal_number",
    "pager",
    "uan",
    "voicemail",
    "fixed_line",
    "mobile",
)


@dataclass(frozen=True, slots=True)
class In:
    """One digit out of ``digits``."""

    digits: frozenset[str]


@dataclass(frozen=True, slots=True)
class Alt:
    """One of the ``branches``."""

    branches: tuple[Seq, ...]


@dataclass(frozen=True, slots=True)
class Rep:
    """``body`` repeated ``low`` to ``high`` times (``high`` None: no bound)."""

    low: int
    high: int | None
    body: Seq


Seq = tuple[In | Alt | Rep, ...]
State = frozenset[Seq]  # the sequences any one of which may match what is left


class UnsupportedPattern(ValueError):
    """A pattern uses something this module does not model; the table is then not built."""


def _convert(parsed: Any) -> Seq:
    items: list[In | Alt | Rep] = []
    for op, arg in parsed:
        if op is _sre.LITERAL:
            items.append(In(frozenset(chr(arg)) & frozenset(_DIGITS)))
        elif op is _sre.IN:
            items.append(In(_char_class(arg)))
        elif op is _sre.BRANCH:
            items.append(Alt(tuple(_convert(branch) for branch in arg[1])))
        elif op is _sre.SUBPATTERN:
            items.extend(_convert(arg[3]))
        elif op is _sre.MAX_REPEAT:
            low, high, body = arg
            items.append(Rep(low, None if high is _sre.MAXREPEAT else high, _convert(body)))
        else:
            raise UnsupportedPattern(f"regular-expression operator {op} is not modelled")
    return tuple(items)


def _char_class(members: Any) -> frozenset[str]:
    chars: set[str] = set()
    for op, arg in members:
        if op is _sre.LITERAL:
            chars.add(chr(arg))
        elif op is _sre.RANGE:
            chars.update(chr(c) for c in range(arg[0], arg[1] + 1))
        elif op is _sre.CATEGORY and arg is _sre.CATEGORY_DIGIT:
            chars.update(_DIGITS)
        else:
            raise UnsupportedPattern(f"character class member {op} {arg} is not modelled")
    return frozenset(chars) & frozenset(_DIGITS)


def pattern(regex: str) -> State:
    return frozenset([_convert(_sre_parse.parse(regex))])


@cache
def _nullable(seq: Seq) -> bool:
    return all(_item_nullable(item) for item in seq)


def _item_nullable(item: In | Alt | Rep) -> bool:
    if isinstance(item, In):
        return False
    if isinstance(item, Alt):
        return any(_nullable(branch) for branch in item.branches)
    return item.low == 0 or _nullable(item.body)


@cache
def _derive_seq(seq: Seq, digit: str) -> State:
    if not seq:
        return frozenset()
    head, rest = seq[0], seq[1:]
    if isinstance(head, In):
        return frozenset([rest]) if digit in head.digits else frozenset()
    if isinstance(head, Alt):
        return frozenset().union(*(_derive_seq(b + rest, digit) for b in head.branches))
    out: set[Seq] = set()
    if head.low == 0 or _nullable(head.body):
        out |= _derive_seq(rest, digit)
    if head.high is None or head.high > 0:
        again = Rep(max(0, head.low - 1), None if head.high is None else head.high - 1, head.body)
        out |= _derive_seq((*head.body, again, *rest), digit)
    return frozenset(out)


@cache
def derive(state: State, digit: str) -> State:
    return frozenset().union(*(_derive_seq(seq, digit) for seq in state))


@cache
def verdict(state: State, remaining: int, prefix_match: bool) -> int:
    """Of all strings of ``remaining`` more digits, how many does ``state`` accept: all
    (VALID), none (INVALID) or some (DEPENDS). With ``prefix_match``, accepting a prefix of
    the string is enough (``re.match``), otherwise the whole string must match."""
    if prefix_match and any(_nullable(seq) for seq in state):
        return VALID
    if remaining == 0:
        return VALID if any(_nullable(seq) for seq in state) else INVALID
    if not state:
        return INVALID
    answers = {verdict(derive(state, d), remaining - 1, prefix_match) for d in _DIGITS}
    return answers.pop() if len(answers) == 1 else DEPENDS


def _both(a: int, b: int) -> int:
    if a == INVALID or b == INVALID:
        return INVALID
    return VALID if a == b == VALID else DEPENDS


class _Region:
    """One region of country code 1: which numbers it claims, and which of those are valid."""

    def __init__(self, code: str) -> None:
        metadata = PhoneMetadata.metadata_for_region(code)
        if metadata is None:
            raise UnsupportedPattern(f"phonenumbers has no metadata for region {code}")
        self.leading = None if metadata.leading_digits is None else pattern(metadata.leading_digits)
        self.general = _desc(metadata.general_desc)
        types = [_desc(getattr(metadata, name)) for name in _TYPES]
        union: set[Seq] = set()
        for state in types:
            union |= state
        self.types = frozenset(union)

    def states(self) -> tuple[State, State, State]:
        return (self.leading or frozenset(), self.general, self.types)


def _desc(desc: object) -> State:
    regex = getattr(desc, "national_number_pattern", None)
    lengths = getattr(desc, "possible_length", ())
    if desc is None or not regex or (lengths and NATIONAL_DIGITS not in lengths):
        return frozenset()  # matches no ten-digit number
    return pattern(regex)


def _decide(regions: Sequence[_Region], states: Sequence[State], remaining: int) -> int:
    """``is_valid_number``'s answer for every number below this prefix, if it is the same."""
    for index, region in enumerate(regions):
        leading, general, types = states[3 * index : 3 * index + 3]
        typed = _both(verdict(general, remaining, False), verdict(types, remaining, False))
        claim = typed if region.leading is None else verdict(leading, remaining, True)
        if claim == INVALID:
            continue
        if claim == VALID:
            return typed
        return DEPENDS
    return INVALID


def build_table() -> bytearray:
    """``table[p]`` for each six-digit prefix ``p`` of a ten-digit national number."""
    regions = [_Region(code) for code in COUNTRY_CODE_TO_REGION_CODE[1]]
    table = bytearray([DEPENDS]) * _PREFIXES

    def walk(prefix: int, depth: int, states: Sequence[State]) -> None:
        span = 10 ** (PREFIX_DIGITS - depth)
        decided = _decide(regions, states, NATIONAL_DIGITS - depth)
        if decided != DEPENDS or depth == PREFIX_DIGITS:
            table[prefix * span : (prefix + 1) * span] = bytes([decided]) * span
            return
        for digit in _DIGITS:
            walk(
                prefix * 10 + int(digit),
                depth + 1,
                [_advance(s, digit, i % 3 == 0) for i, s in enumerate(states)],
            )

    walk(0, 0, [s for region in regions for s in region.states()])
    for cached in (_nullable, _derive_seq, derive, verdict):  # needed only while building
        cached.cache_clear()
    return table


def _advance(state: State, digit: str, leading: bool) -> State:
    # a leading_digits pattern that has matched a prefix keeps its claim (``re.match``)
    if leading and any(_nullable(seq) for seq in state):
        return state
    return derive(state, digit)
