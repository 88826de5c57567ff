"""Every HTTP request gets an id: the caller's ``X-Request-ID`` when it is a sane one, or a
new one. Log lines written while the request is handled carry it (``infra.logs``), and the
response sends it back in ``X-Request-ID``, so a caller can quote it to an operator. Each
request ends with one access line (logger ``dnc.access``, at info): method, the route's
template (never the path or the query: they hold phone numbers), status and time."""

import logging
import re
import secrets
import time
from typing import Any

from app.layers.base import HttpLayer
from app.layers.metrics import METHODS, UNMATCHED
from infra.logs import ACCESS, REQUEST_ID

access = logging.getLogger(ACCESS)

_SANE = re.compile(r"[A-Za-z0-9._:-]{1,128}")


class RequestIds(HttpLayer):
    """The outermost layer of ``dnc serve``'s app, around the fast check path and Litestar."""

    async def handle(self, scope: Any, receive: Any, send: Any) -> None:
        given = next((v for k, v in scope["headers"] if k == b"x-request-id"), b"")
        text = given.decode("latin-1")
        request_id = text if _SANE.fullmatch(text) else secrets.token_hex(8)
        header = (b"x-request-id", request_id.encode())

        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Any) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", ()), header]}
            await send(message)

        reset = REQUEST_ID.set(request_id)
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            if access.isEnabledFor(logging.INFO):
                method = scope["method"] if scope["method"] in METHODS else "OTHER"
                access.info(
                    "%s %s %d %.1f ms",
                    method,
                    scope.get("path_template") or UNMATCHED,
                    status,
                    (time.perf_counter() - started) * 1000,
                )
            REQUEST_ID.reset(reset)
