"""The rows of the table `make bench` prints at the end (``tests/bench/conftest.py``), and
``wrk`` (Debian's package, installed by `make bench`) driving a server for a while."""

import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import redis

SECONDS = int(os.environ.get("DNC_BENCH_SECONDS", "10"))
THREADS = int(os.environ.get("DNC_BENCH_THREADS", "2"))


@dataclass(frozen=True)
class Row:
    metric: str
    ours: str
    reference_name: str = ""
    reference: str = ""
    ratio: float | None = None
    target: str = ""
    met: bool | None = None  # None: no target, shown for information


def table(rows: list[Row]) -> list[str]:
    """The rows as the lines of one table: every metric next to its reference, the ratio, the
    target and whether it was met."""
    header = ("metric", "ours", "reference", "", "ratio", "target", "")
    widths = (44, 24, 30, 20, 7, 10, 7)
    rule = ("-" * 44, "-" * 24, "-" * 30, "-" * 20, "-" * 7, "-" * 10, "-" * 7)
    lines = [header, rule] + [
        (
            row.metric,
            row.ours,
            row.reference_name,
            row.reference,
            "" if row.ratio is None else f"{row.ratio:.2f}x",
            row.target,
            {True: "met", False: "NOT met", None: ""}[row.met],
        )
        for row in rows
    ]
    return [
        "| " + " | ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)) + " |"
        for line in lines
    ]


@dataclass
class Run:
    requests: int
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    non_2xx: int
    socket_errors: int

    @property
    def errors(self) -> int:
        return self.non_2xx + self.socket_errors


def wrk(url: str, connections: int, token: str, script: Path | None = None) -> Run:
    binary = shutil.which("wrk")
    assert binary, "wrk is not installed (make bench installs it)"
    command = [
        binary,
        f"-t{THREADS}",
        f"-c{connections}",
        f"-d{SECONDS}s",
        "--latency",
        "-H",
        f"Authorization: Bearer {token}",
    ]
    if script:
        command += ["-s", str(script)]
    out = subprocess.run(
        [*command, url], capture_output=True, text=True, check=True, timeout=SECONDS + 60
    ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
    latencies = dict(re.findall(r"\s(50|99)%\s+([\d.]+\w+)", out))
    non_2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    sockets = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    socket_errors = sum(int(n) for n in sockets.groups()) if sockets else 0
    return Run(
        int(re.search(r"(\d+) requests in", out).group(1)),  # type: ignore[union-attr]
        rate,
        _ms(latencies["50"]),
        _ms(latencies["99"]),
        int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors,
    )


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(\w+)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def used_memory(port: int) -> int:
    """The ``used_memory`` of the redis-server on ``port``, in bytes."""
    client = redis.Redis(port=port)
    try:
        info = cast(dict[str, Any], client.info("memory"))
        return int(info["used_memory"])
    finally:
        client.close()
