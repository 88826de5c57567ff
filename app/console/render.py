"""What every console page shares: the templates, the page frame, the security headers, and
failures shown as a page (or, for the sign-in, a redirect) instead of a JSON envelope."""

import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, FileSystemLoader, select_autoescape
from litestar import MediaType, Request, Response
from litestar.plugins.jinja import JinjaTemplateEngine
from litestar.response import Redirect, Template
from litestar.template.config import TemplateConfig

from app.console.session import Signed, cleared
from app.errors import handle_exception
from domain.errors import Unauthenticated
from domain.usecases.identity import who_am_i

HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
# Everything the pages load comes from the service itself; a call's recording (evidence kept
# where the calling platform stores it) is the one thing the page may play from elsewhere,
# and only when someone presses play (preload="none").
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "media-src 'self' http: https:; connect-src 'self'; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}

# What an error page keeps of the API's answer besides its code: when to retry (429, 503) and
# the methods a route takes (405)
KEPT = ("retry-after", "allow")
# Characters no page should carry, which a raw client can put in the path an error echoes
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def when(value: datetime | str | None) -> str:
    """A time as the console shows every time: in UTC, to the second."""
    if not value:
        return "—"
    if isinstance(value, str):  # as the mirror's state keeps it (ISO 8601)
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return str(value)
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%d %H:%M:%S UTC")


def web_url(value: str | None) -> str | None:
    """A recording's address if it is an http(s) URL, else None: the API records no other,
    but a row is not trusted to be a link (``javascript:``, ``data:``) a person clicks."""
    if not value:
        return None
    try:
        parts = urlsplit(value)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.netloc or value != value.strip():
        return None
    return value


def _environment() -> Environment:
    environment = Environment(
        loader=FileSystemLoader(HERE / "templates"),
        autoescape=select_autoescape(default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    environment.filters["when"] = when
    environment.filters["web_url"] = web_url
    environment.filters["thousands"] = lambda value: f"{value:,}" if value is not None else "—"
    return environment


template_config = TemplateConfig(engine=JinjaTemplateEngine.from_environment(_environment()))


async def page(
    request: Request[Any, Any, Any], signed: Signed, name: str, **context: Any
) -> Template:
    """A page of the console, in the frame that names the organization and who is signed in."""
    resources = request.app.state.resources
    organization, user = await who_am_i(resources.uow(), signed.principal)
    return Template(
        template_name=name,
        context={
            "organization": organization,
            "user": user,
            "is_admin": signed.is_admin,
            "csrf": signed.session.csrf_token,
            "path": request.url.path,
            **context,
        },
        headers=HEADERS,
    )


def secure_headers(response: Response[Any]) -> Response[Any]:
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def console_error(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """Failures as the console shows them: a session that ended goes to the sign-in page;
    anything else is a page that says what was wrong, with the status code it stands for."""
    if isinstance(exc, Unauthenticated):
        redirect = Redirect("/console/login", status_code=303)
        return secure_headers(cleared(redirect, request))
    answer = handle_exception(request, exc)  # the API's own mapping of failures to codes
    envelope = answer.content
    words = CONTROL.sub("\N{REPLACEMENT CHARACTER}", envelope.errorMessage)
    return Template(
        template_name="error.html",
        context={"code": envelope.code, "title": envelope.message, "words": words},
        status_code=envelope.code,
        headers={**HEADERS, **{k: v for k, v in answer.headers.items() if k.lower() in KEPT}},
        media_type=MediaType.HTML,
    )
