"""Progress of long work (imports, exports, rebuilds, shared-list loads) on stderr: on a
terminal one line redrawn in place, with a bar when the total is known; otherwise (a log, a
pipe) plain lines, each one a line a script can read."""

import sys
import time
from typing import TextIO

REDRAW_EVERY = 0.1  # seconds between two redraws on a terminal
BAR = 30  # characters


class ProgressLine:
    def __init__(self, label: str, unit: str, stream: TextIO | None = None) -> None:
        self.label = label
        self.unit = unit
        self.stream = stream or sys.stderr
        self.terminal = self.stream.isatty()
        self.drawn_at = 0.0
        self.drawn = False

    def update(self, done: int, total: int | None, plain: str | None) -> None:
        """``done`` of ``total`` (None: unknown); ``plain``: the line to write when not on a
        terminal (None: nothing this time)."""
        if not self.terminal:
            if plain is not None:
                print(plain, file=self.stream, flush=True)
            return
        now = time.monotonic()
        finished = total is not None and done >= total
        if now - self.drawn_at < REDRAW_EVERY and not finished:
            return
        self.drawn_at = now
        if total:
            filled = min(BAR, BAR * done // total)
            text = (
                f"{self.label} [{'#' * filled}{'-' * (BAR - filled)}] "
                f"{min(100, done * 100 // total):3d}% {done:,}/{total:,} {self.unit}"
            )
        else:
            text = f"{self.label} {done:,} {self.unit}"
        self.stream.write(f"\r\x1b[2K{text}")
        self.stream.flush()
        self.drawn = True

    def finish(self, plain: str | None = None) -> None:
        """End the line on a terminal; ``plain`` is written either way (a summary)."""
        if self.terminal and self.drawn:
            self.stream.write("\n")
        if plain is not None:
            print(plain, file=self.stream, flush=True)
        self.stream.flush()
