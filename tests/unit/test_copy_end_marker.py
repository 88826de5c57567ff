"""An import body is streamed to COPY in chunks; a '\\.' line is found wherever they split."""

from collections.abc import AsyncIterator

import pytest

from domain.errors import InvalidInput
from infra.db.copy import refuse_end_marker

ROWS = b"2125550100\n2125550101\n\\.\r\n2125550102\n"


async def chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


@pytest.mark.parametrize("size", [1, 2, 3, 5, 11, 12, 13, 100])
@pytest.mark.parametrize("ending", [b"\n", b"\r\n", b"\r"])
async def test_found_across_any_chunk_boundary_with_any_line_ending(
    size: int, ending: bytes
) -> None:
    rows = ROWS.replace(b"\r\n", b"\n").replace(b"\n", ending)
    with pytest.raises(InvalidInput, match="line 4 is"):  # line 1 is the header
        async for _ in refuse_end_marker(chunks(rows, size)):
            pass


@pytest.mark.parametrize("size", [1, 4, 5, 100])
async def test_other_rows_pass_through_unchanged(size: int) -> None:
    data = b'2125550100\r\n"\\."\n\\.x\nx\\.\r2125550102'  # no line break at the end either
    passed = b"".join([chunk async for chunk in refuse_end_marker(chunks(data, size))])
    assert passed == data


async def test_a_last_line_without_newline_is_checked_too() -> None:
    with pytest.raises(InvalidInput, match="line 3 is"):
        async for _ in refuse_end_marker(chunks(b"2125550100\n\\.", 4)):
            pass
