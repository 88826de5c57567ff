"""Closing a process's resources: every one is closed even when another fails to close."""

from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from infra import bootstrap
from infra.settings import Settings


async def test_a_close_that_fails_leaves_nothing_open_and_raises_the_first_error(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    resources = bootstrap.build(Settings(), "dnc-tests")  # nothing connects until first use
    closed: list[str] = []

    async def mirror_fails(*clients: object) -> None:
        closed.append("mirror")
        raise ConnectionError("the mirror's Redis went away")

    async def pool_fails(**options: Any) -> None:
        closed.append("pool")
        raise OSError("the pool's socket is gone")

    async def dispose(engine: AsyncEngine, close: bool = True) -> None:
        closed.append("imports" if engine is resources.imports.engine else "engine")

    monkeypatch.setattr(bootstrap, "close_mirror_redis", mirror_fails)
    monkeypatch.setattr(resources.redis, "aclose", pool_fails)
    monkeypatch.setattr(AsyncEngine, "dispose", dispose)
    with pytest.raises(ConnectionError, match="the mirror's Redis went away"):
        await bootstrap.close(resources)
    assert closed == ["mirror", "pool", "imports", "engine"]
    assert "closing the Redis pool failed as well" in caplog.text
    assert "the pool's socket is gone" in caplog.text


async def test_a_connection_the_caller_owns_is_left_to_it(monkeypatch: pytest.MonkeyPatch) -> None:
    """The worker passes arq's connection in; arq closes it, after the worker's shutdown."""
    theirs = bootstrap.build(Settings(), "dnc-tests").redis
    resources = bootstrap.build(Settings(), "dnc-tests", redis=theirs)
    closed: list[str] = []

    async def aclose(**options: Any) -> None:
        closed.append("pool")

    async def dispose(engine: AsyncEngine, close: bool = True) -> None:
        closed.append("imports" if engine is resources.imports.engine else "engine")

    monkeypatch.setattr(theirs, "aclose", aclose)
    monkeypatch.setattr(AsyncEngine, "dispose", dispose)
    await bootstrap.close(resources)
    assert closed == ["imports", "engine"]
