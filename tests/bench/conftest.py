"""`make bench` prints one table at the end: every metric next to its reference from the same
run, the ratio, the target and whether it was met."""

from dataclasses import dataclass

import pytest


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
