"""Lines of a shared list's files (a registry's downloads, state and litigator lists) read
into numbers: E.164 digits without ``+``, as Postgres ``COPY`` text.

A line holds one number: ten NANP digits (``2125551234``), E.164 with or without ``+``
(``12125551234``, ``+12125551234``, other countries too) or the registry's own
``NPA,NXXXXXX`` (``212,5551234``); a change file's line adds a comma and ``A`` (added) or
``D`` (deleted). Blank lines are skipped, a UTF-8 byte-order mark opening a file is ignored,
spaces around a line (and around its commas) are tolerated. A NANP number must have an area
code and an exchange that start with 2-9, and be one ``domain.phone.normalize`` accepts; an
international number is what ``normalize`` makes of it. Every other line is a
:class:`BadLine`.

A registry load is tens of millions of lines, so the common shapes never cost Python work per
line: one compiled pattern walks a run of lines at C speed, and it knows which NANP prefixes
are valid (a trie of the six-digit prefixes ``domain.nanp``'s table calls valid, so the check
is the table's, not an approximation of it); ``bytes.translate`` and ``bytes.replace`` turn
the run into ``COPY`` text. A line the pattern does not take (padding, an international
number, a prefix only ``phonenumbers`` can judge, anything bad) stops the run and is read on
its own, and the next run starts after it.
"""

import re
from functools import cache
from typing import NamedTuple

from domain.model import BadLine, ChangeChunk, NumberChunk
from domain.nanp import PREFIX_DIGITS, VALID
from domain.phone import nanp_table, normalize_or_none

SHOWN_CHARS = 100  # of a bad line's text
BOM = b"\xef\xbb\xbf"
_AREA_DIGITS = 3
_EOL = rb"(?:\n|\Z)"
_NOT_IN_COPY = b"+,"  # what a run of good lines loses on its way to COPY text
_PADDING = ((b" \n", b"\n"), (b"\t\n", b"\n"), (b"\n ", b"\n"), (b"\n\t", b"\n"))
_UNPADDED_DEPTH = 4
_TEN_DIGIT_LINE = re.compile(rb"(?m)^(?=[0-9]{10}\n)")
_TEN_DIGIT_CHANGE = re.compile(rb"(?m)^(?=[0-9]{10}[AaDd]\n)")
_NUMBER = re.compile(r"(\+)?([0-9]{1,15})|([0-9]{3})[ \t]*,[ \t]*([0-9]{7})")
_CHANGE = re.compile(r"(.+?)[ \t]*,[ \t]*([AaDd])")


class _Runs(NamedTuple):
    """Patterns matching a run of good lines, one trying the registry's ``NPA,NXXXXXX``
    first (for chunks in that shape), the other the digits-only shapes."""

    comma_first: re.Pattern[bytes]
    digits_first: re.Pattern[bytes]

    def for_chunk(self, data: bytes) -> re.Pattern[bytes]:
        return self.comma_first if data[3:4] == b"," else self.digits_first


def read_numbers(data: bytes, file: str, first_line: int) -> NumberChunk:
    """``data``: whole lines of ``file`` (the last may lack its newline), the first of them
    line ``first_line``."""
    data = _prepared(data, first_line)
    run = _number_runs().for_chunk(data)
    pieces: list[bytes] = []
    bad: list[BadLine] = []
    count, line, pos, end = 0, first_line, 0, len(data)
    while pos < end:
        stop = _run_end(run, data, pos)
        if stop > pos:
            text, lines = _copy_text(data[pos:stop])
            pieces.append(text)
            count += lines
            line += lines
        if stop >= end:
            break
        pos = _line_end(data, stop)
        raw = data[stop:pos]
        stripped = raw.strip()
        if stripped:
            number = _number(stripped)
            if number is None:
                bad.append(bad_line(file, line, raw))
            else:
                pieces.append(number.encode() + b"\n")
                count += 1
        line += 1
    return NumberChunk(b"".join(pieces), count, tuple(bad))


def read_changes(data: bytes, file: str, first_line: int) -> ChangeChunk:
    """``read_numbers`` for a change file: each line a number, a comma, ``A`` or ``D``."""
    data = _prepared(data, first_line)
    run = _change_runs().for_chunk(data)
    added: list[str] = []
    deleted: list[str] = []
    bad: list[BadLine] = []
    line, pos, end = first_line, 0, len(data)
    while pos < end:
        stop = _run_end(run, data, pos)
        if stop > pos:
            run_added, run_deleted = _changes_of(data[pos:stop])
            added += run_added
            deleted += run_deleted
            line += len(run_added) + len(run_deleted)
        if stop >= end:
            break
        pos = _line_end(data, stop)
        raw = data[stop:pos]
        stripped = raw.strip()
        if stripped:
            change = _change(stripped)
            if change is None:
                bad.append(bad_line(file, line, raw))
            else:
                (added if change[1] in "Aa" else deleted).append(change[0])
        line += 1
    return ChangeChunk(tuple(added), tuple(deleted), tuple(bad))


def bad_line(file: str, line: int, raw: bytes) -> BadLine:
    """Line ``line`` of ``file``, not read: its text without the whitespace around it (the
    line end included), cut short."""
    shown = raw.strip()[: 4 * SHOWN_CHARS].decode("utf-8", errors="replace")[:SHOWN_CHARS]
    return BadLine(file, line, shown)


def read_number(text: str) -> str | None:
    """One line's number (without its line end or padding) as E.164 digits, None if it is
    not one: the rules of every line the fast path does not take."""
    match = _NUMBER.fullmatch(text)
    if match is None:
        return None
    plus, digits, area, rest = match.groups()
    if area is not None:
        return _nanp(area + rest)
    if plus is None and len(digits) == 10:
        return _nanp(digits)
    if digits[0] == "1":  # country code 1: NANP, ten digits after it
        return _nanp(digits[1:]) if len(digits) == 11 else None
    return normalize_or_none("+" + digits)


def _nanp(ten: str) -> str | None:
    if ten[0] in "01" or ten[_AREA_DIGITS] in "01":
        return None
    return normalize_or_none("+1" + ten)


def _number(stripped: bytes) -> str | None:
    return read_number(stripped.decode("ascii")) if stripped.isascii() else None


def _change(stripped: bytes) -> tuple[str, str] | None:
    match = _CHANGE.fullmatch(stripped.decode("ascii")) if stripped.isascii() else None
    number = None if match is None else read_number(match[1])
    return None if match is None or number is None else (number, match[2])


def _prepared(data: bytes, first_line: int) -> bytes:
    """``data`` without a byte-order mark opening its file, with bare newlines for line
    ends, and without the padding of its lines (down to a depth: deeper padding is left for
    the line-by-line path)."""
    if first_line == 1 and data.startswith(BOM):
        data = data[len(BOM) :]
    if b"\r" in data:
        data = data.replace(b"\r\n", b"\n")
    if b" " in data or b"\t" in data:
        data = data.strip(b" \t")
        for _ in range(_UNPADDED_DEPTH):  # C-level passes, where a regex costs a match a line
            size = len(data)
            for padded, bare in _PADDING:
                data = data.replace(padded, bare)
            if len(data) == size:
                break
    return data


def _run_end(run: re.Pattern[bytes], data: bytes, pos: int) -> int:
    match = run.match(data, pos)
    return pos if match is None else match.end()


def _line_end(data: bytes, start: int) -> int:
    newline = data.find(b"\n", start)
    return len(data) if newline < 0 else newline + 1


def _copy_text(run: bytes) -> tuple[bytes, int]:
    """A run of good lines (10 digits, ``NPA,NXXXXXX``, ``1`` or ``+1`` and 10 digits) as
    ``COPY`` text: E.164 digits, each line ending in a newline; and how many lines."""
    return _with_country_code(run, _TEN_DIGIT_LINE, 0)


def _changes_of(run: bytes) -> tuple[list[str], list[str]]:
    """A run of good change lines: the numbers added, and those deleted."""
    lines = _with_country_code(run, _TEN_DIGIT_CHANGE, 1)[0].decode("ascii").split()
    added = [line[:-1] for line in lines if line[-1] in "Aa"]
    deleted = [line[:-1] for line in lines if line[-1] in "Dd"]
    return added, deleted


def _with_country_code(
    run: bytes, ten_digit_line: re.Pattern[bytes], suffix: int
) -> tuple[bytes, int]:
    """A run of good lines, each line's number as E.164 digits (what follows the number,
    ``suffix`` characters, kept); each line ends in a newline. And how many lines."""
    if not run.endswith(b"\n"):
        run += b"\n"
    if b"+" in run or b"," in run:
        run = run.translate(None, _NOT_IN_COPY)
    lines = run.count(b"\n")
    if len(run) == (11 + suffix) * lines:  # ten digits each
        return b"1" + run.replace(b"\n", b"\n1")[:-1], lines
    if len(run) == (12 + suffix) * lines:  # eleven each
        return run, lines
    return ten_digit_line.sub(b"1", run), lines


@cache
def _number_runs() -> _Runs:
    ten, comma = _prefix_patterns()
    line = rb"(?:%s)[0-9]{4}" + _EOL
    return _Runs(
        re.compile(rb"(?:%s)*+" % (line % b"|".join([comma, ten, rb"\+?1" + ten]))),
        re.compile(rb"(?:%s)*+" % (line % b"|".join([ten, rb"\+?1" + ten, comma]))),
    )


@cache
def _change_runs() -> _Runs:
    ten, comma = _prefix_patterns()
    line = rb"(?:%s)[0-9]{4},[AaDd]" + _EOL
    return _Runs(
        re.compile(rb"(?:%s)*+" % (line % b"|".join([comma, ten, rb"\+?1" + ten]))),
        re.compile(rb"(?:%s)*+" % (line % b"|".join([ten, rb"\+?1" + ten, comma]))),
    )


@cache
def _prefix_patterns() -> tuple[bytes, bytes]:
    """Patterns of the six-digit NANP prefixes (area code, exchange) whose every number is
    valid: as ``NPANXX``, and as ``NPA,NXX``."""
    table = nanp_table()
    valid = bytearray(len(table))
    for prefix, verdict in enumerate(table):
        text = f"{prefix:06d}"
        if verdict == VALID and text[0] not in "01" and text[_AREA_DIGITS] not in "01":
            valid[prefix] = 1
    ten, comma = _trie(bytes(valid), 0, 0, b""), _trie(bytes(valid), 0, 0, b",")
    if ten is None or comma is None:  # phonenumbers calls no NANP number valid: impossible
        raise ValueError("no valid NANP prefix")
    return ten, comma


def _trie(valid: bytes, prefix: int, depth: int, after_area: bytes) -> bytes | None:
    """The pattern of the rest of the valid prefixes that start with ``prefix`` (``depth``
    digits long), None if there are none; digits leading to the same rest share a character
    class."""
    span = 10 ** (PREFIX_DIGITS - depth)
    below = valid[prefix * span : (prefix + 1) * span]
    if b"\x01" not in below:
        return None
    separator = after_area if depth == _AREA_DIGITS else b""
    if b"\x00" not in below:
        return separator + b"[0-9]" * (PREFIX_DIGITS - depth)
    branches: dict[bytes, list[int]] = {}
    for digit in range(10):
        rest = _trie(valid, prefix * 10 + digit, depth + 1, after_area)
        if rest is not None:
            branches.setdefault(rest, []).append(digit)
    alternatives = [_digit_class(digits) + rest for rest, digits in branches.items()]
    return separator + b"(?:" + b"|".join(alternatives) + b")"


def _digit_class(digits: list[int]) -> bytes:
    return b"[" + b"".join(b"%d" % digit for digit in digits) + b"]"
