"""The rows of the table `make bench` prints at the end (``tests/bench/conftest.py``)."""

from dataclasses import dataclass


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
