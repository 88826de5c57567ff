"""Fixtures of the integration tests that more than one module uses."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.settings import Settings
from tests.support.processes import Workers


@pytest.fixture
def workers(settings: Settings, tmp_path: Path) -> Iterator[Workers]:
    """`dnc worker` processes, torn down before ``settings`` truncates the tables and deletes
    the suite's keys."""
    started = Workers(tmp_path)
    try:
        yield started
    finally:
        started.stop_all()
