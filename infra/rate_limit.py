"""Per-token rate limits: a token bucket per token, in each API process.

A token may make ``rate`` requests a second on average and up to ``burst`` at once; past
that, requests are refused with 429 and ``Retry-After`` (whole seconds until one more is
allowed). Buckets live in the process, so with N API processes behind a load balancer a
token gets up to N times the limit: the limit protects each process, and it costs no round
trip on the hot path.
"""

import time
from uuid import UUID

_MAX_TRACKED = 100_000


class RateLimiter:
    def __init__(self, rate: float, burst: float) -> None:
        self.rate = rate
        self.burst = max(burst, 1.0)
        self._buckets: dict[UUID, list[float]] = {}  # token id -> [tokens left, when]

    def wait_for(self, token_id: UUID) -> float:
        """Take one request from the token's bucket: 0.0 if allowed, else the seconds to
        wait before one more would be."""
        if self.rate <= 0:
            return 0.0
        now = time.monotonic()
        bucket = self._buckets.get(token_id)
        if bucket is None:
            if len(self._buckets) >= _MAX_TRACKED:
                self._buckets.clear()  # full buckets are what a forgotten token gets anyway
            bucket = self._buckets[token_id] = [self.burst, now]
        tokens = min(self.burst, bucket[0] + (now - bucket[1]) * self.rate)
        bucket[1] = now
        if tokens >= 1.0:
            bucket[0] = tokens - 1.0
            return 0.0
        bucket[0] = tokens
        return (1.0 - tokens) / self.rate
