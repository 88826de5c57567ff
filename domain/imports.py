"""The rules for one row of an imported CSV file (the pipeline around it is in infra)."""

import csv
from dataclasses import dataclass
from datetime import datetime

from domain.errors import InvalidInput, InvalidPhoneNumber
from domain.phone import normalize
from domain.rules import expiry
from domain.text import one_line

COLUMNS = ("phoneNumber", "type", "expiresAt", "createdAt")  # createdAt (from an export) is ignored
MAX_TYPE_LENGTH = 64
# CSV injection (OWASP): a spreadsheet runs a cell that starts with one of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
ESCAPE = "'"
ESCAPED_STARTS = (*FORMULA_STARTS, ESCAPE)  # what an export prefixes with ESCAPE


def neutralized(value: str) -> str:
    """An exported cell: ``'`` before a value a spreadsheet would run, or one that starts with
    ``'`` itself, so that :func:`restored` can take exactly that prefix back off."""
    return ESCAPE + value if value.startswith(ESCAPED_STARTS) else value


def restored(value: str) -> str:
    """An imported cell: one leading ``'`` dropped when the rest starts with a character
    :func:`neutralized` prefixes (so ``restored(neutralized(v)) == v`` for every ``v``)."""
    if value.startswith(ESCAPE) and value[1:].startswith(ESCAPED_STARTS):
        return value[1:]
    return value


@dataclass(frozen=True, slots=True)
class ImportedRow:
    line: int
    number: str | None
    type: str | None
    expires_at: datetime | None
    error: str | None


def header_columns(header: str) -> list[str]:
    """The columns of a CSV header line; ``phoneNumber`` is required, ``type`` and
    ``expiresAt`` optional, ``createdAt`` (an export's) ignored, nothing else allowed."""
    try:
        names = [name.strip() for name in next(csv.reader([header.lstrip("\ufeff")]), [])]
    except csv.Error as exc:
        raise InvalidInput(f"the header line could not be read: {exc}") from None
    if "phoneNumber" not in names:
        raise InvalidInput(
            "the first line must be a header naming the columns, with phoneNumber and "
            "optionally type and expiresAt"
        )
    unknown = [n for n in names if n not in COLUMNS]
    if unknown:
        raise InvalidInput(
            f"unknown column(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(COLUMNS)}"
        )
    if len(set(names)) != len(names):
        raise InvalidInput("a column appears twice in the header")
    return names


Checked = tuple[int, str | None, str | None, datetime | None, str | None]
CACHED_CELLS = 10_000  # distinct (type, expiresAt) cells remembered by a RowReader


def read_row(
    line: int, phone_raw: str | None, type_raw: str | None, expires_raw: str | None, now: datetime
) -> ImportedRow:
    try:
        number = normalize(phone_raw or "")
    except InvalidPhoneNumber as exc:
        return ImportedRow(line, None, _kind(type_raw), None, exc.message)
    kind, expires_at, error = read_cells(type_raw, expires_raw, now)
    return ImportedRow(line, None if error else number, kind, expires_at, error)


class RowReader:
    """:func:`read_row` for the rows of one file, as tuples (line, number, type, expiresAt,
    error), with the same answers: the verdict on a row's type and expiresAt cells is
    remembered (a file repeats a handful of them), so a row costs about its number's
    normalization."""

    def __init__(self, now: datetime) -> None:
        self.now = now
        self._cells: dict[
            tuple[str | None, str | None], tuple[str | None, datetime | None, str | None]
        ] = {}

    def read(
        self, line: int, phone_raw: str | None, type_raw: str | None, expires_raw: str | None
    ) -> Checked:
        try:
            number = normalize(phone_raw or "")
        except InvalidPhoneNumber as exc:
            return (line, None, _kind(type_raw), None, exc.message)
        cells = self._cells.get((type_raw, expires_raw))
        if cells is None:
            if len(self._cells) >= CACHED_CELLS:
                self._cells.clear()
            cells = read_cells(type_raw, expires_raw, self.now)
            self._cells[type_raw, expires_raw] = cells
        kind, expires_at, error = cells
        return (line, None if error else number, kind, expires_at, error)


def _kind(type_raw: str | None) -> str | None:
    return restored((type_raw or "").strip()) or None


def read_cells(
    type_raw: str | None, expires_raw: str | None, now: datetime
) -> tuple[str | None, datetime | None, str | None]:
    """A row's type and expiresAt (once its number is valid): both, or the row's error (with
    the type it keeps in the report, if any)."""
    kind = _kind(type_raw)
    try:
        one_line("type", kind)
    except InvalidInput as exc:
        return None, None, exc.message
    if kind is not None and len(kind) > MAX_TYPE_LENGTH:
        return None, None, f"type is longer than {MAX_TYPE_LENGTH} characters"
    expires_at = None
    if expires_raw and expires_raw.strip():
        try:
            expires_at = datetime.fromisoformat(expires_raw.strip().replace("Z", "+00:00"))
        except ValueError:
            expires_at = None
        if expires_at is None or expires_at.tzinfo is None:
            return kind, None, "expiresAt must be an ISO 8601 time with a timezone"
        try:
            expires_at = expiry(expires_at, now)
        except InvalidInput as exc:
            return kind, None, exc.message
    return kind, expires_at, None
