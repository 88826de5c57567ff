"""The log format's choice (text on a terminal, JSON otherwise) and the worker's periodic
jobs kept at debug unless a run did something."""

import io
import logging
import logging.config
from collections.abc import Iterator

import pytest

from infra.logs import logging_config, resolved_format


def test_auto_means_text_on_a_terminal_and_json_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("sys.stderr.isatty", lambda: True)
    assert resolved_format("auto") == "text"
    monkeypatch.setattr("sys.stderr.isatty", lambda: False)
    assert resolved_format("auto") == "json"
    assert resolved_format("text") == "text"  # DNC_LOG_FORMAT wins


@pytest.fixture
def worker_log(monkeypatch: pytest.MonkeyPatch) -> Iterator[io.StringIO]:
    """The root logger as `dnc worker` configures it at info, writing to a buffer."""
    stream = io.StringIO()
    monkeypatch.setattr("sys.stderr", stream)
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    logging.config.dictConfig(logging_config("INFO", "text", "dnc-worker"))
    yield stream
    root.handlers, root.level = saved[0], saved[1]


def test_periodic_jobs_that_did_nothing_stay_out_of_an_info_log(worker_log: io.StringIO) -> None:
    arq = logging.getLogger("arq.worker")
    ref = "cron:dnc:sync_mirrors:1764583200123:sync_mirrors"
    arq.info("%6.2fs → %s(%s)%s", 0.01, ref, "", "")
    arq.info("%6.2fs ← %s ● %s", 0.01, ref, "0")
    arq.info("recording health: %s", "Dec-01 10:03:00 j_complete=12")
    expired = "cron:dnc:expire_entries:1764583200123:expire_entries"
    arq.info("%6.2fs ← %s ● %s", 0.02, expired, "3")  # it did something: kept
    arq.info("%6.2fs → %s(%s)%s", 0.0, "7f1c:import_numbers", "'abc'", "")  # not periodic
    lines = worker_log.getvalue().splitlines()
    assert len(lines) == 2, lines
    assert "expire_entries" in lines[0]
    assert "● 3" in lines[0]
    assert "import_numbers" in lines[1]
    assert all(" dnc-worker[" in line for line in lines)
