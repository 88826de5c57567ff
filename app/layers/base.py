"""The shape every layer has: an ASGI app around ``app``, acting on HTTP requests only."""

from typing import Any


class HttpLayer:
    """Passes anything but an HTTP request (the lifespan's messages) straight to ``app``, and
    gives every HTTP request to :meth:`handle`."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        await self.handle(scope, receive, send)

    async def handle(self, scope: Any, receive: Any, send: Any) -> None:
        raise NotImplementedError
