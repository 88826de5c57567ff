"""Streams read one step ahead: a rebuild reads the next buckets from Postgres while Redis
loads the last ones, so the two stores work side by side instead of in turn."""

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from typing import TypeVar

T = TypeVar("T")


async def _next(items: AsyncIterator[T]) -> T:
    return await anext(items)


async def read_ahead(items: AsyncIterator[T]) -> AsyncGenerator[T, None]:
    """``items`` in order, the next one read (in a task of its own) while the caller works on
    the current one. Only that task reads ``items``, one step at a time; stopping early
    cancels the read in flight and closes ``items``."""
    pending: asyncio.Task[T] = asyncio.ensure_future(_next(items))
    try:
        while True:
            try:
                item = await pending
            except StopAsyncIteration:
                return
            pending = asyncio.ensure_future(_next(items))
            yield item
    finally:
        if not pending.done():
            pending.cancel()
        try:
            await pending
        except (asyncio.CancelledError, StopAsyncIteration):
            pass
        finally:
            close = getattr(items, "aclose", None)
            if close is not None:
                await close()
