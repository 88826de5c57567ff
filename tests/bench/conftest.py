"""`make bench` prints one table at the end: every metric next to its reference from the same
run, the ratio, the target and whether it was met (``tests/support/bench.py``)."""

from collections.abc import Iterator
from dataclasses import replace

import pytest

from infra.settings import Settings
from tests.support.bench import Row, table
from tests.support.helpers import free_port
from tests.support.processes import running

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
    for line in table(ROWS):
        write(line)


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
    with running(("serve", own), stop_within=20):
        yield f"http://127.0.0.1:{own.port}"
