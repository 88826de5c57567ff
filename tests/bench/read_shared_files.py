"""How fast ``domain.shared_files`` reads a registry's lines, in lines a second (best of
several runs): ``.venv/bin/python -m tests.bench.read_shared_files [LINES]``.

The numbers are valid NANP numbers in order, as a registry's area-code files hold them, read
in 1 MiB chunks of whole lines as ``infra.shared_files`` hands them over.
"""

import random
import sys
import time
from collections.abc import Callable

from domain.nanp import VALID
from domain.phone import nanp_table
from domain.shared_files import read_changes, read_numbers

CHUNK = 1 << 20
RUNS = 5


def numbers(lines: int) -> list[int]:
    table = nanp_table()
    prefixes = [
        p
        for p, verdict in enumerate(table)
        if verdict == VALID and p // 100_000 > 1 and p // 100 % 10 > 1
    ]
    chosen = random.Random(13)
    return sorted(chosen.choice(prefixes) * 10_000 + chosen.randrange(10_000) for _ in range(lines))


def chunks(data: bytes) -> list[bytes]:
    out, start = [], 0
    while start < len(data):
        end = data.rfind(b"\n", start, start + CHUNK) + 1 or len(data)
        out.append(data[start:end])
        start = end
    return out


def lines_per_second(
    lines: int, parts: list[bytes], read: Callable[[bytes, str, int], object]
) -> float:
    best = float("inf")
    for _ in range(RUNS):
        started = time.perf_counter()
        for part in parts:
            read(part, "bench", 2)
        best = min(best, time.perf_counter() - started)
    return lines / best


def main() -> None:
    lines = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    values = numbers(lines)
    read_numbers(b"2125551234\n", "warm-up", 1)  # builds the NANP table and the patterns
    read_changes(b"2125551234,A\n", "warm-up", 1)
    shapes = {
        "NNNNNNNNNN": b"".join(b"%010d\n" % n for n in values),
        "NPA,NXXXXXX": b"".join(b"%03d,%07d\n" % divmod(n, 10_000_000) for n in values),
        "NPA,NXXXXXX CRLF": b"".join(b"%03d,%07d\r\n" % divmod(n, 10_000_000) for n in values),
        "1NNNNNNNNNN": b"".join(b"1%010d\n" % n for n in values),
        "+1NNNNNNNNNN": b"".join(b"+1%010d\n" % n for n in values),
        "NNNNNNNNNN padded": b"".join(b" %010d \n" % n for n in values),
    }
    for name, data in shapes.items():
        rate = lines_per_second(lines, chunks(data), read_numbers)
        print(f"read_numbers {name:<20} {rate / 1e6:6.2f} M lines/s")
    changes = b"".join(
        b"%03d,%07d,%s\n" % (*divmod(n, 10_000_000), (b"A", b"D")[n % 2]) for n in values
    )
    rate = lines_per_second(lines, chunks(changes), read_changes)
    print(f"read_changes NPA,NXXXXXX,A|D      {rate / 1e6:6.2f} M lines/s")


if __name__ == "__main__":
    main()
