"""Fixtures of the integration tests that more than one module uses."""

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg
import pytest

from infra.bootstrap import Resources
from infra.settings import Settings
from tests.support.helpers import resources_for
from tests.support.processes import Workers


@pytest.fixture
async def db(settings: Settings) -> AsyncIterator[asyncpg.Connection]:
    """A connection of its own to the suite's database, for raw SQL behind the API's back."""
    connection = await asyncpg.connect(settings.database_url)
    try:
        yield connection
    finally:
        await connection.close()


@pytest.fixture
async def resources(settings: Settings) -> AsyncIterator[Resources]:
    """Every resource, as a process builds them, on the test's own event loop."""
    async with resources_for(settings) as built:
        yield built


@pytest.fixture
def workers(settings: Settings, tmp_path: Path) -> Iterator[Workers]:
    """`dnc worker` processes, torn down before ``settings`` truncates the tables and deletes
    the suite's keys."""
    started = Workers(tmp_path)
    try:
        yield started
    finally:
        started.stop_all()
