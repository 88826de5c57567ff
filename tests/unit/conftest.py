"""Fixtures of the use cases' unit tests (in-memory fakes, no services)."""

import pytest

from tests.unit.world import World


@pytest.fixture
def world() -> World:
    return World()
