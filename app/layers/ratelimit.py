"""A token over its rate limit (the limiter itself: :mod:`infra.rate_limit`)."""

import math


class RateLimited(Exception):
    """A token went over its rate limit (429, with ``Retry-After``)."""

    def __init__(self, retry_after: float) -> None:
        super().__init__("rate limited")
        self.retry_after_seconds = max(1, math.ceil(retry_after))
        self.message = (
            f"This token is over its rate limit; retry after {self.retry_after_seconds} second(s)"
        )
