"""What wraps every request of ``dnc serve``, outermost first (``app.asgi.create_server_app``):
an id for every request (``request_ids``), its metrics (``metrics``), a read timeout on its
body (``body_timeout``), and the single check's everyday case answered before Litestar routes
it (``fast_check``). ``ratelimit`` is the answer to a token over its limit, which the bearer
middleware (``app.auth``) and the fast check both ask the limiter for.

The strict readers of a request's input (``app.body``, ``app.query``) are not layers: they are
the rules every route reads its body and query by, run inside Litestar (a ``before_request``
hook, a Litestar middleware) and by the fast check, and stay beside ``app.auth`` and
``app.errors``."""
