"""The rules for one imported row (domain/imports.py): ``RowReader``, which the import runs
row after row, answers exactly as ``read_row`` does, however often a cell repeats."""

from datetime import UTC, datetime

from domain.imports import RowReader, read_row

NOW = datetime(2030, 1, 1, tzinfo=UTC)
ROWS = [
    ("2125551234", "bench", None),
    ("+1 (212) 555-1235", "bench", ""),
    ("2125551236", None, "2031-01-01T00:00:00Z"),
    ("2125551237", "'=cmd", "2031-01-01T00:00:00+02:00"),
    ("not a number", "bench", None),
    ("", "kept", "garbage"),
    ("2125551238", "two\nlines", None),
    ("2125551239", "x" * 65, None),
    ("2125551240", "bench", "2020-01-01T00:00:00Z"),  # in the past
    ("2125551241", "bench", "2031-01-01T00:00:00"),  # no timezone
    ("2125551242", "bench", "garbage"),
    ("+442079460000", "  spaced  ", None),
    (None, None, None),
]


def test_a_row_reader_answers_as_read_row_does_with_cells_repeated() -> None:
    reader = RowReader(NOW)
    for line, (phone, kind, expires) in enumerate(ROWS * 3, start=2):
        expected = read_row(line, phone, kind, expires, NOW)
        assert reader.read(line, phone, kind, expires) == (
            expected.line,
            expected.number,
            expected.type,
            expected.expires_at,
            expected.error,
        )
