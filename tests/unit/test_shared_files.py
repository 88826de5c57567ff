"""Reading a shared list's files: what a registry download, a state list or a change file
holds, in every shape and wrapping we take, and every line we refuse, where it is."""

import gzip
import io
import random
import re
import stat
import tracemalloc
import zipfile
from collections.abc import Iterator
from pathlib import Path

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from domain.errors import InvalidInput, InvalidPhoneNumber
from domain.model import BadLine, ChangeChunk, NumberChunk
from domain.nanp import DEPENDS, VALID
from domain.phone import nanp_table, normalize
from domain.shared_files import _number_runs, read_changes, read_numbers
from infra.shared_files import iter_change_chunks, iter_number_chunks, total_bytes

BOM = b"\xef\xbb\xbf"


# --- what a line should read as, from the rules alone (and ``normalize``) ----------------

_COMMA = re.compile(r"([0-9]{3})[ \t]*,[ \t]*([0-9]{7})")
_TEN = re.compile(r"[0-9]{10}")
_ONE_AND_TEN = re.compile(r"\+?1([0-9]{10})")
_OTHER_COUNTRY = re.compile(r"\+?([02-9][0-9]{0,14})")


def expected(raw: bytes) -> str | None:
    """What a line holds, by the rules: E.164 digits, None for a bad line, "" for a blank."""
    text = raw.strip()
    if not text:
        return ""
    if not text.isascii():
        return None
    line = text.decode()
    if match := _COMMA.fullmatch(line):
        return _nanp(match[1] + match[2])
    if _TEN.fullmatch(line):
        return _nanp(line)
    if match := _ONE_AND_TEN.fullmatch(line):
        return _nanp(match[1])
    if match := _OTHER_COUNTRY.fullmatch(line):
        return _international(match[1])
    return None


def _nanp(ten: str) -> str | None:
    if ten[0] in "01" or ten[3] in "01":  # area code and exchange start with 2-9
        return None
    try:
        return normalize(ten)
    except InvalidPhoneNumber:
        return None


def _international(digits: str) -> str | None:
    try:
        return normalize("+" + digits)
    except InvalidPhoneNumber:
        return None


def shown(raw: bytes) -> str:
    """A bad line's text: without the whitespace around it, cut short."""
    return raw.strip().decode("utf-8", errors="replace")[:100]


def expected_chunk(data: bytes, file: str, first_line: int) -> tuple[list[str], list[BadLine]]:
    if first_line == 1 and data.startswith(BOM):
        data = data[len(BOM) :]
    lines = data.split(b"\n")
    if lines[-1] == b"":
        lines.pop()
    numbers, bad = [], []
    for offset, raw in enumerate(lines):
        number = expected(raw)
        if number is None:
            bad.append(BadLine(file, first_line + offset, shown(raw)))
        elif number:
            numbers.append(number)
    return numbers, bad


def numbers_of(chunk: NumberChunk) -> list[str]:
    assert chunk.text == b"" or chunk.text.endswith(b"\n")
    numbers = chunk.text.decode("ascii").split("\n")[:-1]
    assert chunk.count == len(numbers)
    return numbers


def read(
    data: bytes, file: str = "list.txt", first_line: int = 1
) -> tuple[list[str], list[BadLine]]:
    chunk = read_numbers(data, file, first_line)
    return numbers_of(chunk), list(chunk.bad)


# --- lines ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "line",
    [
        b"2125551234",
        b"212,5551234",
        b"12125551234",
        b"+12125551234",
        b"  2125551234  ",
        b"\t212,5551234\t",
        b"212 , 5551234",
        b"2125551234\r",
    ],
)
def test_each_shape_of_a_nanp_number_reads_as_its_e164_digits(line: bytes) -> None:
    assert read(line + b"\n") == (["12125551234"], [])
    assert read(line) == (["12125551234"], [])  # the last line may lack its newline


@pytest.mark.parametrize(
    ("line", "number"),
    [
        (b"+442079460958", "442079460958"),
        (b"442079460958", "442079460958"),
        (b"+4930901820", "4930901820"),  # ten digits with a +: not NANP
        (b"+390669820000", "390669820000"),
        (b"2465210000", "12465210000"),  # a prefix only phonenumbers can judge
        (b"876,6060000", "18766060000"),
    ],
)
def test_other_countries_and_prefixes_the_table_cannot_judge_read_like_normalize(
    line: bytes, number: str
) -> None:
    assert read(line + b"\n") == ([number], [])


@pytest.mark.parametrize(
    "line",
    [
        b"phoneNumber",  # a header row
        b"npa,number",
        b"212555123a",
        b"abc",
        b"0125551234",  # area code starting with 0
        b"1125551234",  # ... with 1
        b"2120551234",  # exchange starting with 0
        b"2121551234",  # ... with 1
        b"8090123456",  # normalize takes it (the Dominican Republic), the NANP rules do not
        b"18091123456",
        b"212,0551234",
        b"2115551234",  # N11 is no area code
        b"+12120551234",
        b"12125551234567",  # too many digits for NANP
        b"2125551234567890123",  # too many for E.164
        b"+1234567890123456",
        b"21255512345",  # eleven digits: the country code 2 has no such number
        b"212555123",
        b"+1555",
        b"+0442079460958",
        b"212 555 1234",  # inside a line, spaces are not ours to guess about
        b"(212) 555-1234",
        b"212-555-1234",
        b"+1 212 555 1234",
        b"1212,5551234",
        b"+1212,5551234",
        b"212,555123",
        b"21,25551234",
        b"2125551234,",
        b",2125551234",
        b"2125551234,A",  # a change line is not a number
        b"++12125551234",
        b"+",
        b"2125551234\x00",
        b"\x002125551234",
        "\uff12\uff11\uff12\uff15\uff15\uff15\uff11\uff12\uff13\uff14".encode(),  # full-width
        "212555123\uff14".encode(),
        b"2125551234\xff",
        b"\xef\xbb\xbf2125551234",  # a byte-order mark past a file's start
        b"2125551234\x0c2125551234",
    ],
)
def test_anything_else_is_a_bad_line_with_its_text(line: bytes) -> None:
    text = line.decode("utf-8", errors="replace")
    assert read(b"2125551234\n" + line + b"\n2125551235\n", first_line=7) == (
        ["12125551234", "12125551235"],
        [BadLine("list.txt", 8, text)],
    )


def test_a_bad_lines_text_is_cut_to_100_characters_and_undecodable_bytes_replaced() -> None:
    long = b"x\xff" * 300
    numbers, bad = read(b"2125551234\r\n" + long + b"\r\n")
    assert numbers == ["12125551234"]
    assert bad == [BadLine("list.txt", 2, "x\ufffd" * 50)]


def test_blank_and_whitespace_lines_are_skipped_but_counted_for_line_numbers() -> None:
    data = b"\n  \n\t\r\n2125551234\n\n \x0b\nbad\n"
    assert read(data) == (["12125551234"], [BadLine("list.txt", 7, "bad")])
    assert read(b"") == ([], [])
    assert read(b"\n\n\n") == ([], [])


def test_crlf_line_ends_and_a_last_line_without_one() -> None:
    data = b"2125551234\r\n212,5551235\r\nnope\r\n+12125551236"
    assert read(data) == (
        ["12125551234", "12125551235", "12125551236"],
        [BadLine("list.txt", 3, "nope")],
    )


def test_a_byte_order_mark_is_ignored_only_where_a_file_begins() -> None:
    assert read(BOM + b"212,5551234\n") == (["12125551234"], [])
    numbers, bad = read(BOM + b"212,5551234\n", first_line=40)
    assert numbers == []
    assert bad == [BadLine("list.txt", 40, "\ufeff212,5551234")]


def test_shapes_mixed_in_one_chunk_each_read_right() -> None:
    data = b"2125551234\n12125551235\n212,5551236\n+12125551237\n+442079460958\n2125551238\n"
    assert read(data)[0] == [
        "12125551234",
        "12125551235",
        "12125551236",
        "12125551237",
        "442079460958",
        "12125551238",
    ]


def test_deep_padding_still_reads_and_a_line_of_spaces_is_blank() -> None:
    data = b" \t \t \t 2125551234 \t \t \t \n" + b" " * 5000 + b"\n" + b"\t212,5551235 \r\n"
    assert read(data) == (["12125551234", "12125551235"], [])


# --- the fast path against normalize ------------------------------------------------------


def _example_numbers() -> list[str]:
    found = []
    for region in sorted(phonenumbers.SUPPORTED_REGIONS):
        for kind in (phonenumbers.PhoneNumberType.FIXED_LINE, phonenumbers.PhoneNumberType.MOBILE):
            number = phonenumbers.example_number_for_type(region, kind)
            if number is not None:
                found.append(
                    phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)
                )
    return found


EXAMPLES = _example_numbers()
DEPENDING = [p for p, verdict in enumerate(nanp_table()) if verdict == DEPENDS]
GARBAGE = b"0123456789+,- \tAaDdx\x00\xff\r()."


def random_line(chosen: random.Random) -> bytes:
    """A line a registry file, a careless export or an attacker might hold."""
    kind = chosen.randrange(10)
    if kind < 5:  # a NANP prefix of any kind (mostly invalid), in one of the usual shapes
        prefix = chosen.choice(DEPENDING) if kind == 0 else chosen.randrange(1_000_000)
        ten = f"{prefix:06d}{chosen.randrange(10_000):04d}"
        shape = chosen.choice(["{}", "1{}", "+1{}", "{a},{b}", " {} ", "{a} , {b}\t", "{}\r"])
        return shape.format(ten, a=ten[:3], b=ten[3:]).encode()
    if kind == 5:
        example = chosen.choice(EXAMPLES)
        return (example if chosen.random() < 0.5 else example[1:]).encode()
    if kind == 6:  # digits of any length, with or without +
        digits = "".join(chosen.choice("0123456789") for _ in range(chosen.randrange(19)))
        return (chosen.choice(["", "+"]) + digits).encode()
    if kind == 7:  # a good line, one byte changed
        line = bytearray(b"+12125551234" if chosen.random() < 0.5 else b"212,5551234")
        line[chosen.randrange(len(line))] = chosen.choice(GARBAGE)
        return bytes(line)
    if kind == 8:
        return bytes(chosen.choice(GARBAGE) for _ in range(chosen.randrange(14)))
    return chosen.choice([b"", b" ", b"\t\t", b"\r"])


def test_the_fast_path_takes_exactly_the_prefixes_the_table_and_the_nanp_rules_allow() -> None:
    """Every six-digit prefix, in one of the shapes the chunk-level patterns take (in turn):
    a line they take never reaches ``normalize``, so it must be one ``normalize`` takes."""
    table = nanp_table()
    shapes = (b"%03d%03d%04d\n", b"%03d,%03d%04d\n", b"1%03d%03d%04d\n", b"+1%03d%03d%04d\n")
    for turn, run in enumerate(_number_runs()):
        prefixes = range(turn, 1_000_000, 2)
        lines = [shapes[p // 2 % 4] % (p // 1000, p % 1000, p % 9973) for p in prefixes]
        taken = [match is not None for match in map(run.fullmatch, lines)]
        allowed = [table[p] == VALID and p >= 200_000 and p % 1000 >= 200 for p in prefixes]
        assert taken == allowed


def test_a_sample_of_prefixes_reads_as_normalize_and_the_nanp_rules_say() -> None:
    chosen = random.Random(1)
    prefixes = [*chosen.sample(range(1_000_000), 40_000), *DEPENDING, 809_012, 809_112]
    lines = [b"%06d%04d" % (p, chosen.randrange(10_000)) for p in prefixes]
    data = b"\n".join(lines)
    numbers, bad = read(data)
    assert (numbers, bad) == expected_chunk(data, "list.txt", 1)
    assert len(numbers) > 10_000  # valid numbers, not only bad lines


@pytest.mark.parametrize("seed", range(6))
def test_random_chunks_read_as_the_rules_and_normalize_say(seed: int) -> None:
    chosen = random.Random(seed)
    lines = [random_line(chosen) for _ in range(5_000)]
    if seed % 2:  # mostly good lines, so the fast path carries most of the chunk
        good = [f"212{5550000 + n:07d}".encode() for n in range(20_000)]
        lines = good + lines
        chosen.shuffle(lines)
    data = (b"\r\n" if seed % 3 == 0 else b"\n").join(lines) + chosen.choice([b"", b"\n"])
    first_line = chosen.choice([1, 2, 1_000_001])
    assert read(data, "f", first_line) == expected_chunk(data, "f", first_line)


@pytest.mark.parametrize("seed", range(3))
def test_a_chunk_reads_as_its_lines_read_one_by_one(seed: int) -> None:
    chosen = random.Random(100 + seed)
    lines = [random_line(chosen) + b"\n" for _ in range(3_000)]
    whole = read(b"".join(lines))
    numbers: list[str] = []
    bad: list[BadLine] = []
    for number, line in enumerate(lines, start=1):
        one = read(line, first_line=number)
        numbers += one[0]
        bad += one[1]
    assert whole == (numbers, bad)


LINE_PARTS = st.sampled_from(
    ["2", "1", "0", "5", "9", "+", ",", " ", "\t", "\r", "a", "D", "\x00", "é", "12125551234"]
)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(LINE_PARTS, max_size=14).map("".join), max_size=30), st.booleans())
def test_any_lines_read_as_the_rules_and_normalize_say(lines: list[str], newline: bool) -> None:
    data = "\n".join(lines).encode() + (b"\n" if newline else b"")
    assert read(data, "h", 3) == expected_chunk(data, "h", 3)


# --- change files -------------------------------------------------------------------------


def changes(data: bytes, first_line: int = 1) -> ChangeChunk:
    return read_changes(data, "changes.txt", first_line)


def test_change_lines_in_every_shape() -> None:
    data = (
        b"2125551234,A\n"
        b"212,5551235,D\r\n"
        b"+12125551236,a\n"
        b"12125551237,d\n"
        b"  212 , 5551238 , A  \n"
        b"+442079460958,D\n"
        b"\n"
        b"2465210000,A"
    )
    assert changes(data) == ChangeChunk(
        added=("12125551234", "12125551236", "12125551238", "12465210000"),
        deleted=("12125551235", "12125551237", "442079460958"),
    )


@pytest.mark.parametrize(
    "line",
    [
        b"2125551234",
        b"2125551234,",
        b"2125551234,X",
        b"2125551234,AD",
        b"2125551234,Added",
        b"2125551234;A",
        b"2125551234 A",
        b",A",
        b"A",
        b"0125551234,A",
        b"2120551234,D",
        b"212,555123,D",
        b"212 555 1234,A",
        b"number,action",
        b"2125551234,\xc3\x81",
        b"2125551234,A,",
    ],
)
def test_a_change_line_that_is_not_a_number_and_a_or_d_is_bad(line: bytes) -> None:
    data = b"2125551234,A\n" + line + b"\r\n212,5551235,D"
    assert changes(data, first_line=11) == ChangeChunk(
        ("12125551234",),
        ("12125551235",),
        (BadLine("changes.txt", 12, line.decode("utf-8", errors="replace")),),
    )


@pytest.mark.parametrize("seed", range(4))
def test_random_change_chunks_read_as_their_lines_say(seed: int) -> None:
    chosen = random.Random(200 + seed)
    lines = []
    for _ in range(4_000):
        flag = chosen.choice([b",A", b",D", b",a", b",d", b" , D", b",X", b"", b",AD"])
        lines.append(random_line(chosen) + flag)
    lines += [b"%d,A" % n for n in range(2125550000, 2125560000)]
    chosen.shuffle(lines)
    data = b"\n".join(lines)
    added: list[str] = []
    deleted: list[str] = []
    bad: list[BadLine] = []
    for number, line in enumerate(lines, start=5):
        text = line.strip()
        flag = text[-1:].upper()
        body = text[:-1].rstrip(b" \t")
        if not text:
            continue
        part = body[:-1].rstrip(b" \t")  # spaces around the comma, nothing else
        good = body.endswith(b",") and flag in b"AD" and part == part.strip()
        number_of = expected(part) if good else None
        if number_of:
            (added if flag == b"A" else deleted).append(number_of)
        else:
            bad.append(BadLine("changes.txt", number, shown(line)))
    assert changes(data, first_line=5) == ChangeChunk(tuple(added), tuple(deleted), tuple(bad))


# --- files --------------------------------------------------------------------------------


def numbers_in(chunks: Iterator[NumberChunk]) -> tuple[list[str], list[BadLine]]:
    numbers: list[str] = []
    bad: list[BadLine] = []
    for chunk in chunks:
        numbers += numbers_of(chunk)
        bad += chunk.bad
    return numbers, bad


def gzip_members(*parts: bytes) -> bytes:
    return b"".join(gzip.compress(part) for part in parts)


def zip_of(members: list[tuple[str, bytes]]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, data in members:
            if name.endswith("/"):
                archive.mkdir(name)
            else:
                archive.writestr(name, data)
    return out.getvalue()


def numbered(first: int, count: int, bad_every: int = 0) -> bytes:
    """``count`` lines of NPA,NXXXXXX (CRLF), from 212,``first``; every ``bad_every``th bad."""
    lines = []
    for n in range(count):
        bad = bad_every and n % bad_every == bad_every - 1
        lines.append(b"bad %d" % n if bad else b"212,%07d" % (first + n))
    return b"\r\n".join(lines) + b"\r\n"


def test_plain_gzip_multi_member_gzip_and_zip_in_one_load(tmp_path: Path) -> None:
    plain = tmp_path / "212.txt"
    plain.write_bytes(BOM + b"212,5551234\r\nheader?\r\n")
    packed = tmp_path / "646.txt.gz"
    packed.write_bytes(gzip_members(b"646,5550001\n646,55", b"50002\nx\n", b"646,5550003"))
    archive = tmp_path / "registry.zip"
    archive.write_bytes(
        zip_of(
            [
                ("area/", b""),
                ("area/718.txt", BOM + b"718,5550001\n\nbad\n"),
                ("917.txt", b"917,5550001\n917,5550002\nno\n"),
            ]
        )
    )
    assert numbers_in(iter_number_chunks([plain, packed, archive])) == (
        [
            "12125551234",
            "16465550001",
            "16465550002",
            "16465550003",
            "17185550001",
            "19175550001",
            "19175550002",
        ],
        [
            BadLine(str(plain), 2, "header?"),
            BadLine(str(packed), 3, "x"),
            BadLine(f"{archive}:area/718.txt", 3, "bad"),
            BadLine(f"{archive}:917.txt", 3, "no"),
        ],
    )


def test_gzip_and_zip_are_known_by_their_bytes_not_their_names(tmp_path: Path) -> None:
    packed = tmp_path / "list.txt"
    packed.write_bytes(gzip.compress(b"2125551234\n"))
    archive = tmp_path / "list.csv"
    archive.write_bytes(zip_of([("a.txt", b"2125551235\n")]))
    plain = tmp_path / "list.gz"
    plain.write_bytes(b"2125551236\n")
    assert numbers_in(iter_number_chunks([packed, archive, plain])) == (
        ["12125551234", "12125551235", "12125551236"],
        [],
    )


@pytest.mark.parametrize("chunk_bytes", [1, 2, 7, 11, 12, 13, 100, 4096])
def test_small_chunks_read_every_line_whole_with_its_number(
    tmp_path: Path, chunk_bytes: int
) -> None:
    plain = tmp_path / "a.txt"
    plain.write_bytes(numbered(5550000, 500, bad_every=37))
    packed = tmp_path / "b.gz"
    packed.write_bytes(
        gzip_members(numbered(6660000, 200, 41)[:999], numbered(6660000, 200, 41)[999:])
    )
    archive = tmp_path / "c.zip"
    archive.write_bytes(zip_of([("x.txt", numbered(7770000, 300, 29)), ("y.txt", b"2125551234")]))
    chunks = list(iter_number_chunks([plain, packed, archive], chunk_bytes=chunk_bytes))
    assert numbers_in(iter(chunks)) == numbers_in(iter_number_chunks([plain, packed, archive]))
    numbers, bad = numbers_in(iter(chunks))
    assert len(numbers) == 500 - 13 + 200 - 4 + 300 - 10 + 1
    assert bad[0] == BadLine(str(plain), 37, "bad 36")
    assert BadLine(str(packed), 82, "bad 81") in bad
    assert bad[-1] == BadLine(f"{archive}:x.txt", 290, "bad 289")
    if chunk_bytes >= 100:
        assert all(len(chunk.text) <= 2 * chunk_bytes for chunk in chunks)


def test_line_numbers_hold_across_many_default_sized_chunks(tmp_path: Path) -> None:
    lines = numbered(2_000_000, 700_000, bad_every=99_999)  # 9 MiB: several 1 MiB chunks
    plain = tmp_path / "big.txt"
    plain.write_bytes(lines)
    packed = tmp_path / "big.gz"
    packed.write_bytes(gzip.compress(lines, compresslevel=1))
    chunks = list(iter_number_chunks([plain, packed]))
    assert len(chunks) > 16
    numbers, bad = numbers_in(iter(chunks))
    assert len(numbers) == 2 * (700_000 - 7)
    assert numbers[:2] == ["12122000000", "12122000001"]
    assert numbers[-1] == "12122699999"
    every = [
        BadLine(name, n, f"bad {n - 1}")
        for name in (str(plain), str(packed))
        for n in range(99_999, 700_001, 99_999)
    ]
    assert bad == every


def test_a_line_longer_than_the_limit_is_a_bad_line_and_never_held_whole(tmp_path: Path) -> None:
    plain = tmp_path / "huge.txt"
    with plain.open("wb") as out:
        out.write(b"2125551234\n")
        out.write(b"9" * (8 << 20))  # 8 MiB of one line
        out.write(b"\n2125551235\nbad\n" + b"7" * (3 << 20))  # and a last line of 3 MiB
    limit = 64 << 10
    tracemalloc.start()
    try:
        numbers, bad = numbers_in(
            iter_number_chunks([plain], chunk_bytes=limit, max_line_bytes=limit)
        )
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert numbers == ["12125551234", "12125551235"]
    assert bad == [
        BadLine(str(plain), 2, "9" * 100),
        BadLine(str(plain), 4, "bad"),
        BadLine(str(plain), 5, "7" * 100),
    ]
    assert peak < 1 << 20


def test_a_missing_file_is_refused_before_anything_is_read(tmp_path: Path) -> None:
    there = tmp_path / "212.txt"
    there.write_bytes(b"2125551234\n")
    missing = tmp_path / "646.txt"
    with pytest.raises(InvalidInput) as caught:
        iter_number_chunks([there, missing])  # raised by the call, not the first chunk
    assert str(missing) in caught.value.message
    assert "No such file" in caught.value.message
    with pytest.raises(InvalidInput, match="no file"):
        iter_number_chunks([])
    with pytest.raises(InvalidInput) as caught:
        iter_change_chunks([tmp_path])
    assert str(tmp_path) in caught.value.message
    with pytest.raises(InvalidInput) as caught:
        total_bytes([there, missing])
    assert str(missing) in caught.value.message


@pytest.mark.skipif(not hasattr(__import__("os"), "geteuid"), reason="POSIX permissions")
def test_an_unreadable_file_is_refused(tmp_path: Path) -> None:
    locked = tmp_path / "locked.txt"
    locked.write_bytes(b"2125551234\n")
    locked.chmod(0)
    try:
        if __import__("os").geteuid() == 0:
            pytest.skip("root reads any file")
        with pytest.raises(InvalidInput) as caught:
            iter_number_chunks([locked])
        assert str(locked) in caught.value.message
    finally:
        locked.chmod(stat.S_IRUSR | stat.S_IWUSR)


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"\x1f\x8b\x08\x00garbage, not deflate" * 3, "gzip header"),
        (b"\x1f\x8b", "only gzip's magic"),
        (b"PK\x03\x04" + b"\x00" * 100, "zip without a directory"),
        (b"PK\x05\x06" + b"\x00" * 18, "an empty zip"),
        (zip_of([("dir/", b""), ("dir/sub/", b"")]), "a zip of directories only"),
        (gzip.compress(b"2125551234\n") + b"trailing garbage", "gzip with trailing garbage"),
    ],
)
def test_a_broken_or_empty_archive_is_refused_naming_it(
    tmp_path: Path, content: bytes, reason: str
) -> None:
    good = tmp_path / "good.txt"
    good.write_bytes(b"2125551234\n")
    broken = tmp_path / "broken.bin"
    broken.write_bytes(content)
    with pytest.raises(InvalidInput) as caught:
        numbers_in(iter_number_chunks([good, broken]))
    assert str(broken) in caught.value.message, reason


def test_a_truncated_gzip_stops_the_reading_naming_it(tmp_path: Path) -> None:
    lines = numbered(2_000_000, 400_000)
    packed = tmp_path / "cut.gz"
    whole = gzip.compress(lines)
    packed.write_bytes(whole[: len(whole) // 2])
    chunks = iter_number_chunks([packed], chunk_bytes=64 << 10)
    first = next(chunks)  # the damage is past what the check upfront reads
    assert first.count > 0
    with pytest.raises(InvalidInput) as caught:
        numbers_in(chunks)
    assert str(packed) in caught.value.message


def test_a_zip_member_with_a_wrong_checksum_stops_the_reading_naming_it(tmp_path: Path) -> None:
    archive = tmp_path / "bad-crc.zip"
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_STORED) as writing:
        writing.writestr("ok.txt", b"2125551234\n")
        writing.writestr("flipped.txt", b"2125551235\n")
    damaged = out.getvalue().replace(b"2125551235", b"2125551236")  # stored: the data, as is
    archive.write_bytes(damaged)
    with pytest.raises(InvalidInput) as caught:
        numbers_in(iter_number_chunks([archive]))
    assert f"{archive}:flipped.txt" in caught.value.message


def test_an_encrypted_zip_member_is_refused_before_reading(tmp_path: Path) -> None:
    archive = tmp_path / "locked.zip"
    plain = zip_of([("secret.txt", b"2125551234\n")])
    local, central = plain.index(b"PK\x03\x04"), plain.index(b"PK\x01\x02")
    locked = bytearray(plain)
    locked[local + 6] |= 0x1  # the general purpose flags say: encrypted
    locked[central + 8] |= 0x1
    archive.write_bytes(bytes(locked))
    with pytest.raises(InvalidInput) as caught:
        iter_number_chunks([archive])
    assert "encrypted" in caught.value.message
    assert str(archive) in caught.value.message


def test_a_zips_symbolic_links_are_not_read(tmp_path: Path) -> None:
    archive = tmp_path / "links.zip"
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as writing:
        link = zipfile.ZipInfo("link.txt")
        link.external_attr = (stat.S_IFLNK | 0o777) << 16
        writing.writestr(link, b"/etc/passwd")
        writing.writestr("real.txt", b"2125551234\n")
    archive.write_bytes(out.getvalue())
    assert numbers_in(iter_number_chunks([archive])) == (["12125551234"], [])


def test_change_files_in_every_wrapping(tmp_path: Path) -> None:
    plain = tmp_path / "changes.txt"
    plain.write_bytes(b"212,5551234,A\r\n212,5551235,D\r\n212,5551236,Q\r\n")
    packed = tmp_path / "changes.gz"
    packed.write_bytes(gzip_members(b"2125551237,a\n", b"+12125551238,d"))
    archive = tmp_path / "changes.zip"
    archive.write_bytes(zip_of([("day.txt", BOM + b"212,5551239,A\n")]))
    added: list[str] = []
    deleted: list[str] = []
    bad: list[BadLine] = []
    for chunk in iter_change_chunks([plain, packed, archive], chunk_bytes=5):
        added += chunk.added
        deleted += chunk.deleted
        bad += chunk.bad
    assert added == ["12125551234", "12125551237", "12125551239"]
    assert deleted == ["12125551235", "12125551238"]
    assert bad == [BadLine(str(plain), 3, "212,5551236,Q")]


def test_total_bytes_and_progress_count_the_text_read(tmp_path: Path) -> None:
    plain = tmp_path / "a.txt"
    plain.write_bytes(numbered(2_000_000, 1000))
    packed = tmp_path / "b.gz"
    packed.write_bytes(gzip.compress(numbered(2_000_000, 2000)))
    archive = tmp_path / "c.zip"
    archive.write_bytes(
        zip_of([("d/", b""), ("x", numbered(2_000_000, 300)), ("y", numbered(2_000_000, 400))])
    )
    text = (
        len(numbered(2_000_000, 1000))
        + len(numbered(2_000_000, 2000))
        + len(numbered(2_000_000, 700))
    )
    assert total_bytes([plain, packed, archive]) == text
    read_so_far: list[int] = []
    chunks = iter_number_chunks([plain, packed, archive], progress=read_so_far.append)
    assert sum(chunk.count for chunk in chunks) == 3700
    assert sum(read_so_far) == text


def test_total_bytes_of_a_multi_member_gzip_is_a_guess_from_its_size(tmp_path: Path) -> None:
    packed = tmp_path / "parts.gz"
    packed.write_bytes(gzip_members(numbered(2_000_000, 5000), b"2125551234\n"))
    assert total_bytes([packed]) == packed.stat().st_size * 4  # not the last member's 11
