"""Who is signed in to the console, and the checks every console request passes.

The session cookie (``dnc_console``) is HttpOnly, SameSite=Strict, and expires with the
session. Every form posts the session's CSRF token (``csrf``; the import's upload sends it as
``X-CSRF-Token``); the sign-in form, before there is a session, posts the random value of a
short-lived cookie of its own (double submit).

Over HTTPS (directly or, as a proxy says in ``X-Forwarded-Proto``, to it) both cookies are
Secure and named with the ``__Host-`` prefix, which a browser keeps only when the cookie is
Secure, has ``Path=/`` and no ``Domain``: no sibling subdomain and no plain-HTTP page can set
one of that name, so a cookie planted to sign a person in to someone else's session or to
pass the sign-in's double submit is never read. ``Path=/`` sends them to the API's paths too,
which is harmless: the API reads a bearer token and never a cookie. Over plain HTTP a cookie
cannot be Secure, so it cannot carry the prefix: it keeps its plain name, limited to
``/console``.
"""

import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from litestar import Request, Response
from litestar.datastructures import Cookie

from app.deps import resources_of
from app.query import first_repeated
from domain.errors import Forbidden, InvalidInput
from domain.model import ConsoleSession, Principal
from domain.time import as_utc, utcnow
from domain.usecases.console import session_of

COOKIE = "dnc_console"
SIGN_IN_COOKIE = "dnc_console_sign_in"
HOST_PREFIX = "__Host-"
SIGN_IN_SECONDS = 3600
SIGN_IN_VALUE = re.compile(r"[A-Za-z0-9_-]{43}")  # what secrets.token_urlsafe(32) gives
CSRF_FIELD = "csrf"
CSRF_HEADER = "x-csrf-token"
# The longest each form field may be: what the API's schemas accept for the same field
# (app/schemas: a type Text64, a list's name Text200 and description Text2k, a removal's or a
# prefix rule's reason 1,000, a prefix 40, a phone number 64), so the console stores nothing
# the API would refuse. Any other field (a token, a CSRF token, a time) is short.
FIELD_LIMITS = {
    "phoneNumber": 64,
    "type": 64,
    "name": 200,
    "description": 2048,
    "reason": 1000,
    "prefix": 40,
}
OTHER_FIELD_LIMIT = 256
# A console form is a few short fields: far below the API's limit for its JSON bulk calls
MAX_FORM_BYTES = 64 * 1024
# What a browser says of where a request came from (Fetch Metadata): a form of the console
# itself is "same-origin"; "none" is a person's own navigation (a bookmark, the address bar)
OWN_FETCH_SITES = ("same-origin", "none")
FROM_ELSEWHERE = (
    "This form was sent from another site or service; the console accepts only its own "
    "forms: open the console and try again"
)
BAD_CSRF = (
    "This form has expired or did not come from the console (its security token does not "
    "match); reload the page and try again"
)


@dataclass(frozen=True, slots=True)
class Signed:
    """A request of a signed-in session."""

    principal: Principal
    session: ConsoleSession

    @property
    def is_admin(self) -> bool:
        return self.principal.role == "admin"

    def require_admin(self) -> None:
        if not self.is_admin:
            raise Forbidden("Only an admin of the organization may do this")


async def provide_signed(request: Request[Any, Any, Any]) -> Signed:
    """The request's session, or :class:`Unauthenticated` (the pages send you to sign in)."""
    resources = resources_of(request.app.state)
    secret = cookie_of(request, COOKIE)
    principal, session = await session_of(resources.uow(), secret, utcnow())
    return Signed(principal, session)


def is_https(request: Request[Any, Any, Any]) -> bool:
    forwarded = request.headers.get("x-forwarded-proto", "").split(",")[0].strip().lower()
    return request.url.scheme == "https" or forwarded == "https"


def cookie_name(request: Request[Any, Any, Any], name: str) -> str:
    """The name a console cookie has on this request: ``__Host-`` prefixed over HTTPS."""
    return HOST_PREFIX + name if is_https(request) else name


def cookie_of(request: Request[Any, Any, Any], name: str) -> str:
    """The value the request's console cookie ``name`` has under this scheme's name, or ""."""
    return request.cookies.get(cookie_name(request, name), "")


def console_cookie(request: Request[Any, Any, Any], name: str, value: str, seconds: int) -> Cookie:
    """A console cookie as the request's scheme allows (see the module's docstring), lasting
    ``seconds`` (0 removes it). Litestar's ``expires`` and ``max_age`` are both seconds from
    now (a timestamp there made the cookie last until 2083)."""
    https = is_https(request)
    return Cookie(
        key=cookie_name(request, name),
        value=value,
        path="/" if https else "/console",
        max_age=seconds,
        expires=seconds,
        httponly=True,
        samesite="strict",
        secure=https,
    )


def session_cookie(request: Request[Any, Any, Any], secret: str, expires: datetime) -> Cookie:
    seconds = max(0, int((expires - utcnow()).total_seconds()))
    return console_cookie(request, COOKIE, secret, seconds)


def cleared(response: Response[Any], request: Request[Any, Any, Any]) -> Response[Any]:
    response.set_cookie(console_cookie(request, COOKIE, "", 0))
    return response


def sign_in_cookie(request: Request[Any, Any, Any]) -> Cookie:
    """The sign-in form's cookie, its lifetime renewed; the value the browser already holds is
    kept, so a second tab's sign-in page (or one reloaded after a session ended) does not
    outdate the first's form."""
    held = cookie_of(request, SIGN_IN_COOKIE)
    value = held if SIGN_IN_VALUE.fullmatch(held) else secrets.token_urlsafe(32)
    return console_cookie(request, SIGN_IN_COOKIE, value, SIGN_IN_SECONDS)


def same(sent: str | None, expected: str) -> bool:
    return bool(sent) and hmac.compare_digest(str(sent).encode(), expected.encode())


def require_own_origin(request: Request[Any, Any, Any]) -> None:
    """A 403 for a request the browser says another site made. The CSRF tokens stop a site
    that cannot read the console's pages, but the sign-in's is a double-submit cookie, which a
    sibling subdomain (same site, so SameSite=Strict lets it through) can set for itself and
    sign a person in to its own organization; browsers that send no Fetch Metadata (older
    ones, scripts) are left to the tokens."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site.strip().lower() not in OWN_FETCH_SITES:
        raise Forbidden(FROM_ELSEWHERE)


async def form_of(request: Request[Any, Any, Any]) -> dict[str, str]:
    """The posted form's text fields, of a form the browser says is the console's own; a field
    sent twice is a 400, as a repeated parameter is everywhere in this API."""
    require_own_origin(request)
    try:
        form = await request.form()
    except UnicodeDecodeError:
        raise InvalidInput("The form is not UTF-8 text") from None
    pairs = list(form.multi_items())
    repeated = first_repeated(pairs)
    if repeated is not None:
        raise InvalidInput(f"the form field {repeated!r} appears more than once")
    fields = {key: value for key, value in pairs if isinstance(value, str)}
    if any("\x00" in value for value in fields.values()):
        raise InvalidInput("Form fields must not contain NUL characters")
    for key, value in fields.items():
        limit = FIELD_LIMITS.get(key, OTHER_FIELD_LIMIT)
        if len(value) > limit:
            raise InvalidInput(f"the form field {key!r} must be at most {limit} characters")
    return fields


def require_csrf(signed: Signed, sent: str | None) -> None:
    if not same(sent, signed.session.csrf_token):
        raise Forbidden(BAD_CSRF)


def form_time(raw: str | None, name: str) -> datetime | None:
    """A time from a form: ISO 8601; one without an offset is read as UTC (a browser's
    datetime-local field sends none, and the console shows every time in UTC)."""
    if not raw or not raw.strip():
        return None
    try:
        value = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise InvalidInput(f"{name} must be a date and time, e.g. 2026-11-01T10:03") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return as_utc(value, name)
