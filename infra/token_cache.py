"""The in-process cache of principals by token hash (see :mod:`app.auth` for the rules)."""

import asyncio
import time
from collections.abc import Awaitable, Callable

from domain.model import Principal

UNCONFIRMED_SECONDS = 1.0  # API.md: a revoked token is refused within one second
_MAX_CACHED = 10_000


class TokenCache:
    """Principals by token hash for ``seconds``. Concurrent misses of one token share one
    lookup, so an expiry under load costs one query, not one per waiting request.

    Every revocation heard bumps a generation; a lookup that started before the bump is
    not stored (it may have read the token just before its revocation)."""

    def __init__(self, seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self.clock = clock
        self._entries: dict[str, tuple[float, Principal]] = {}  # hash: (loaded at, principal)
        self._loading: dict[str, asyncio.Future[Principal]] = {}
        self._generation = 0
        self._confirmed_until = 0.0  # monotonic; see trust_until

    async def get_or_load(
        self, token_hash: str, load: Callable[[], Awaitable[Principal]]
    ) -> Principal:
        principal = self.get(token_hash)
        if principal is not None:
            return principal
        loading = self._loading.get(token_hash)
        if loading is None:
            started, generation = self.clock(), self._generation
            loading = asyncio.ensure_future(load())
            self._loading[token_hash] = loading
            loading.add_done_callback(
                lambda done: self._loaded(token_hash, done, started, generation)
            )
        return await asyncio.shield(loading)  # one waiter leaving does not cancel the rest

    def _loaded(
        self,
        token_hash: str,
        done: "asyncio.Future[Principal]",
        started: float,
        generation: int,
    ) -> None:
        if self._loading.get(token_hash) is done:
            del self._loading[token_hash]
        if generation != self._generation:  # a revocation arrived while this one was loading
            return
        if not done.cancelled() and done.exception() is None:
            self._put(token_hash, done.result(), started)

    def get(self, token_hash: str) -> Principal | None:
        hit = self._entries.get(token_hash)
        if hit is None:
            return None
        loaded_at, principal = hit
        now = self.clock()
        age = now - loaded_at
        if age >= self.seconds:
            return None
        if age >= UNCONFIRMED_SECONDS and now >= self._confirmed_until:
            return None  # a revocation may have been missed: ask Postgres again
        return principal

    def put(self, token_hash: str, principal: Principal) -> None:
        self._put(token_hash, principal, self.clock())

    def _put(self, token_hash: str, principal: Principal, loaded_at: float) -> None:
        if self.seconds <= 0:
            return
        if len(self._entries) >= _MAX_CACHED:
            self._entries.clear()
        self._entries[token_hash] = (loaded_at, principal)

    # What the revocation listener calls (infra.token_revocations.RevocationSink) ----------

    def forget(self, token_hash: str) -> None:
        """This token was revoked: drop it, and any lookup of it (or any other) under way."""
        self._generation += 1
        self._entries.pop(token_hash, None)
        self._loading.pop(token_hash, None)  # later requests look it up afresh

    def forget_all(self) -> None:
        """Revocations may have been missed: drop everything."""
        self._generation += 1
        self._entries.clear()
        self._loading.clear()

    def trust_until(self, deadline: float) -> None:
        """Every revocation announced up to ``deadline - UNCONFIRMED_SECONDS`` (monotonic)
        has been heard, so entries may be trusted past their first second until then.
        ``deadline`` is on :func:`time.monotonic`'s clock, as ``clock`` is."""
        self._confirmed_until = max(self._confirmed_until, deadline)
