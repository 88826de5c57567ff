"""``GET /api/dnc/check``'s everyday case, answered before Litestar routes the request.

Dialers call this endpoint more than all others together, and most of its cost in Litestar is
the framework's per-request work (routing, the middleware and guard layers, the response
object), not the lookup. :class:`FastCheck` wraps the Litestar app and answers a request
itself only when everything about it is ordinary: a GET of exactly this path, one
``Authorization: Bearer`` header whose token is already in the token cache, one
``phoneNumber``, at most one ``lists`` and no other parameter (a check at a past moment,
``at=``, goes to Litestar: it is answered from Postgres, never as a check of the present).
The answer is built by the same code as the route's (:func:`app.routes.check.single_check`)
and encoded by Litestar's own encoder. Anything else, and any failure on the way (a token to
look up, a bad request, Redis and Postgres down), goes to Litestar untouched, which gives the
usual answer or error envelope.
``tests/api/test_fast_check.py`` holds the two paths to the same bytes.
"""

from typing import Any

from litestar import Litestar
from litestar.serialization import encode_json

from app.auth import bearer_token
from app.deps import resources_of
from app.layers.base import HttpLayer
from app.query import query_pairs
from app.routes.check import (
    FAST_PARAMETERS,
    PATH,
    lists_param,
    run_check,
    single_check,
    unknown_parameter,
)
from domain.usecases.identity import hash_token

_HEADERS = [(b"content-type", b"application/json")]


class FastCheck(HttpLayer):
    app: Litestar

    def __init__(self, app: Litestar) -> None:
        super().__init__(app)

    async def handle(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["method"] == "GET" and scope["path"] == PATH:
            body = await self._answer(scope)
            if body is not None:
                scope["path_template"] = PATH  # as Litestar's router would (metrics label)
                length = (b"content-length", str(len(body)).encode())
                start = {"type": "http.response.start", "status": 200}
                await send({**start, "headers": [*_HEADERS, length]})
                await send({"type": "http.response.body", "body": body})
                return
        await self.app(scope, receive, send)

    async def _answer(self, scope: Any) -> bytes | None:
        """The response body, or None to let Litestar answer."""
        authorization = [v for k, v in scope["headers"] if k == b"authorization"]
        if len(authorization) != 1:
            return None
        token = bearer_token(authorization[0].decode("latin-1"))
        if token is None:
            return None
        resources = resources_of(self.app.state)
        principal = resources.tokens.get(hash_token(token))
        if principal is None:
            return None
        try:
            pairs = query_pairs(scope["query_string"])  # a repeated parameter: Litestar's 400
            numbers = [v for k, v in pairs if k == "phoneNumber"]
            names = (k for k, _ in pairs)
            if len(numbers) != 1 or not numbers[0] or unknown_parameter(names, FAST_PARAMETERS):
                return None
            named = lists_param(next((v for k, v in pairs if k == "lists"), None))
            if resources.limiter.wait_for(principal.token_id):  # charged once we will answer
                return None  # Litestar asks the limiter again and answers 429
            result = await run_check(self.app.state, principal.organization_id, numbers, named)
            return encode_json(single_check(result))
        except Exception:  # Litestar answers again, with the envelope this failure deserves
            return None
