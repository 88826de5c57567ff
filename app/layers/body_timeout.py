"""A read timeout on request bodies: uvicorn has none (its ``timeout_keep_alive`` only
covers the wait between requests), so a client that sends a request's head and then stops
would keep its request running for ever. :class:`BodyTimeout` gives every ``receive`` of a
body at most ``seconds`` to bring the next part of it; a body that sends nothing for that long
is answered with the 408 envelope and its connection is closed. It wraps every route, since
every route that takes a body reads it through ``receive`` (Litestar's JSON parsing, the CSV
import's stream)."""

import asyncio
from typing import Any

import msgspec
from litestar.exceptions import HTTPException

from app.errors import TITLES, Envelope
from app.layers.base import HttpLayer

CLOSE = {"Connection": "close"}


class BodyTimedOut(HTTPException):
    """Raised from ``receive`` when the client let the timeout pass without sending more of
    its body; the exception handlers answer it as any other 4xx, with ``Connection: close``."""

    status_code = 408

    def __init__(self, seconds: float) -> None:
        super().__init__(
            detail=f"The request body stopped arriving: nothing came for {seconds:g} seconds",
            headers=CLOSE,
        )


class BodyTimeout(HttpLayer):
    def __init__(self, app: Any, seconds: float) -> None:
        super().__init__(app)
        self.seconds = seconds

    async def handle(self, scope: Any, receive: Any, send: Any) -> None:
        body_done = False
        started = False

        async def receive_in_time() -> Any:
            nonlocal body_done
            if body_done:  # after the body: waiting for a disconnect, for as long as it takes
                return await receive()
            try:
                async with asyncio.timeout(self.seconds):
                    message = await receive()
            except TimeoutError:
                raise BodyTimedOut(self.seconds) from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_done = True
            return message

        async def send_noting(message: Any) -> None:
            nonlocal started
            started = True
            await send(message)

        try:
            await self.app(scope, receive_in_time, send_noting)
        except BodyTimedOut as exc:
            if started:  # an answer is already on its way: only the connection can go
                raise
            await _answer(send, exc)


async def _answer(send: Any, exc: BodyTimedOut) -> None:
    """The 408 envelope, for a timeout that reached us past the app's own exception handlers."""
    body = msgspec.json.encode(
        Envelope(message=TITLES[408], status=False, code=408, errorMessage=exc.detail)
    )
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": 408, "headers": headers})
    await send({"type": "http.response.body", "body": body})
