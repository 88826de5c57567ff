"""`make bench` prints one table at the end: every metric next to its reference from the same
run, the ratio, the target and whether it was met."""

import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, replace

import pytest

from infra.settings import Settings
from tests.helpers import free_port, wait_until_healthy
from tests.integration.test_cli_end_to_end import DNC, env_of


@dataclass(frozen=True)
class Row:
    metric: str
    ours: str
    reference_name: str = ""
    reference: str = ""
    ratio: float | None = None
    target: str = ""
    met: bool | None = None  # None: no target, shown for information


ROWS: list[Row] = []


@pytest.fixture
def report() -> list[Row]:
    return ROWS


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if not ROWS:
        return
    write = terminalreporter.write_line
    write("")
    write("make bench: one run on this machine; each reference was measured in the same run")
    write("")
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
        for row in ROWS
    ]
    for line in lines:
        write("| " + " | ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)) + " |")


@pytest.fixture
def server(settings: Settings) -> Iterator[str]:
    """A real `dnc serve` process (its default worker count); yields its base URL."""
    # the limiter runs, but one token may send as much as wrk can (it measures the server)
    unlimited = 1e9
    own = replace(
        settings,
        port=free_port(),
        log_level="WARNING",
        rate_limit_per_second=unlimited,
        rate_limit_burst=unlimited,
    )
    process = subprocess.Popen([DNC, "serve"], env=env_of(own))
    base = f"http://127.0.0.1:{own.port}"
    try:
        wait_until_healthy(base)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=20)
