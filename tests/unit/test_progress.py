"""Progress on a terminal is one line redrawn in place with a bar; anywhere else, plain
lines a script can read."""

import io

from app.cli.progress import ProgressLine


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_on_a_terminal_one_line_is_redrawn_with_a_bar() -> None:
    screen = Terminal()
    line = ProgressLine("import 1", "rows checked", screen)
    line.update(0, 200, "import 1: 0/200 rows checked")
    line.update(50, 200, "import 1: 50/200 rows checked")  # too soon after: not redrawn
    line.update(200, 200, "import 1: 200/200 rows checked")  # the end: always drawn
    line.finish()
    text = screen.getvalue()
    assert "\n" not in text[:-1]  # one line, redrawn
    assert text.count("\r") == 2
    assert text.endswith("] 100% 200/200 rows checked\n")
    assert "[" + "#" * 30 + "]" in text
    assert "rows checked\r" not in text.replace("\r\x1b[2K", "")  # each redraw clears first
    assert "import 1: " not in text  # the plain lines are for logs


def test_elsewhere_the_plain_lines_come_as_they_are() -> None:
    log = io.StringIO()
    line = ProgressLine("export", "rows", log)
    line.update(100_000, None, "export: 100000 rows")
    line.update(150_000, None, None)  # nothing to say this time
    line.finish("export: 150000 rows in all")
    assert log.getvalue() == "export: 100000 rows\nexport: 150000 rows in all\n"
