"""The console's forms (POST): signing in and out, and every change the console makes.

Each form carries the session's CSRF token; each change goes through the same use case as the
API's route for it, so it is audited and reaches the Redis mirror the same way. A change that
worked answers 303 to the page it came from, which then says so; one that did not answers the
error page with what was wrong.
"""

from datetime import timedelta
from typing import Any
from urllib.parse import quote

from litestar import Request, Response, post
from litestar.di import NamedDependency
from litestar.params import FromPath
from litestar.response import Redirect, Template

from app.console.render import HEADERS, secure_headers
from app.console.session import (
    COOKIE,
    CSRF_FIELD,
    SIGN_IN_COOKIE,
    Signed,
    cleared,
    console_cookie,
    cookie_of,
    form_of,
    form_time,
    require_csrf,
    same,
    session_cookie,
    sign_in_cookie,
)
from app.deps import resources_of
from app.schemas.fields import trimmed
from domain.errors import Forbidden, InvalidInput, Unauthenticated
from domain.model import BulkItem
from domain.time import utcnow
from domain.usecases.console import session_of, sign_in, sign_out
from domain.usecases.entries import bulk_add, remove_number, set_dnc_enabled
from domain.usecases.lists import create_list, create_prefix, delete_prefix, list_id_of

BAD_SIGN_IN_FORM = "The sign-in form expired; it has been reloaded: enter your token again"


def to(location: str) -> Redirect:
    """Where a form that worked sends the browser (303: the page is fetched with GET)."""
    redirect = Redirect(location, status_code=303)
    secure_headers(redirect)
    return redirect


def sign_in_page(
    request: Request[Any, Any, Any], error: str | None = None, status: int = 200
) -> Template:
    """The sign-in form (with what went wrong, if anything) and its own CSRF cookie."""
    cookie = sign_in_cookie(request)
    return Template(
        template_name="login.html",
        context={"csrf": cookie.value, "error": error},
        cookies=[cookie],
        headers=HEADERS,
        status_code=status,
    )


@post("/login", status_code=303)
async def post_sign_in(request: Request[Any, Any, Any]) -> Response[Any]:
    form = await form_of(request)
    if not same(form.get(CSRF_FIELD), cookie_of(request, SIGN_IN_COOKIE)):
        return sign_in_page(request, BAD_SIGN_IN_FORM, 403)
    resources = resources_of(request.app.state)
    lifetime = timedelta(minutes=resources.settings.console_session_minutes)
    try:
        secret, session = await sign_in(resources.uow(), form.get("token", ""), utcnow(), lifetime)
    except Unauthenticated as exc:
        return sign_in_page(request, exc.message, 401)
    except Forbidden as exc:
        return sign_in_page(request, exc.message, 403)
    response = to("/console/")
    response.set_cookie(session_cookie(request, secret, session.expires_at))
    response.set_cookie(console_cookie(request, SIGN_IN_COOKIE, "", 0))
    return response


@post("/logout", status_code=303)
async def post_sign_out(request: Request[Any, Any, Any]) -> Response[Any]:
    """Ends the session whose cookie came with the form (if its CSRF token matches)."""
    form = await form_of(request)
    secret = cookie_of(request, COOKIE)
    resources = resources_of(request.app.state)
    if secret:
        try:
            _, session = await session_of(resources.uow(), secret, utcnow())
        except Unauthenticated:
            session = None
        if session is not None and same(form.get(CSRF_FIELD), session.csrf_token):
            await sign_out(resources.uow(), secret)
    return cleared(to("/console/login"), request)


@post("/lists", status_code=303)
async def post_list(request: Request[Any, Any, Any], signed: NamedDependency[Signed]) -> Redirect:
    form = await form_of(request)
    require_csrf(signed, form.get(CSRF_FIELD))
    resources = resources_of(request.app.state)
    created = await create_list(
        resources.uow(),
        resources.mirror,
        signed.principal.organization_id,
        signed.principal.user_id,
        form.get("name", ""),
        trimmed(form.get("description")),
    )
    return to(f"/console/lists/{quote(created.id, safe='')}?done=list")


@post("/lists/{list_id:str}/add", status_code=303)
async def post_add(
    request: Request[Any, Any, Any],
    signed: NamedDependency[Signed],
    list_id: FromPath[str],
) -> Redirect:
    form = await form_of(request)
    require_csrf(signed, form.get(CSRF_FIELD))
    number = form.get("phoneNumber", "").strip()
    if not number:
        raise InvalidInput("Enter the phone number to add")
    item = BulkItem(
        number, trimmed(form.get("type")), form_time(form.get("expiresAt"), "expiresAt")
    )
    resources = resources_of(request.app.state)
    [outcome] = await bulk_add(
        resources.uow(), resources.mirror, signed.principal, [item], list_id_of(list_id)
    )
    if outcome.outcome == "invalid":
        raise InvalidInput(outcome.error or f"{number!r} is not a valid phone number")
    if outcome.outcome == "duplicate":
        raise InvalidInput(f"{outcome.normalized} is already on this list")
    return to(f"/console/lists/{quote(list_id, safe='')}?done=added")


@post("/lists/{list_id:str}/numbers/{number:str}/remove", status_code=303)
async def post_remove(
    request: Request[Any, Any, Any],
    signed: NamedDependency[Signed],
    list_id: FromPath[str],
    number: FromPath[str],
) -> Redirect:
    form = await form_of(request)
    require_csrf(signed, form.get(CSRF_FIELD))
    reason = trimmed(form.get("reason"))
    if not reason:
        raise InvalidInput("Say why the number is removed: the reason is kept as evidence")
    resources = resources_of(request.app.state)
    entry = await remove_number(
        resources.uow(), resources.mirror, signed.principal, number, reason, list_id
    )
    where = f"/console/lists/{quote(list_id, safe='')}/numbers/{entry.phone_number}"
    return to(f"{where}?done=removed")


@post("/prefixes", status_code=303)
async def post_prefix(request: Request[Any, Any, Any], signed: NamedDependency[Signed]) -> Redirect:
    form = await form_of(request)
    require_csrf(signed, form.get(CSRF_FIELD))
    resources = resources_of(request.app.state)
    await create_prefix(
        resources.uow(),
        resources.mirror,
        signed.principal,
        form.get("prefix", ""),
        trimmed(form.get("reason")),
    )
    return to("/console/prefixes?done=prefix")


@post("/prefixes/{rule_id:str}/delete", status_code=303)
async def post_prefix_end(
    request: Request[Any, Any, Any],
    signed: NamedDependency[Signed],
    rule_id: FromPath[str],
) -> Redirect:
    form = await form_of(request)
    require_csrf(signed, form.get(CSRF_FIELD))
    resources = resources_of(request.app.state)
    await delete_prefix(resources.uow(), resources.mirror, signed.principal, rule_id)
    return to("/console/prefixes?done=prefix-deleted")


@post("/dnc", status_code=303)
async def post_switch(
    request: Request[Any, Any, Any], signed: NamedDependency[Signed]
) -> Response[Any]:
    """Switch DNC on, or off once the confirmation page has been answered (admins)."""
    signed.require_admin()
    form = await form_of(request)
    require_csrf(signed, form.get(CSRF_FIELD))
    enable = form.get("enable")
    if enable not in ("true", "false"):
        raise InvalidInput("Choose whether DNC is to be on or off")
    if enable == "false" and form.get("confirm") != "yes":
        return Template(
            template_name="confirm_off.html",
            context={"csrf": signed.session.csrf_token},
            headers=HEADERS,
            status_code=200,
        )
    resources = resources_of(request.app.state)
    await set_dnc_enabled(resources.uow(), resources.mirror, signed.principal, enable == "true")
    return to(f"/console/?done={'enabled' if enable == 'true' else 'disabled'}")


@post("/rebuild", status_code=303)
async def post_rebuild(
    request: Request[Any, Any, Any], signed: NamedDependency[Signed]
) -> Redirect:
    signed.require_admin()
    form = await form_of(request)
    require_csrf(signed, form.get(CSRF_FIELD))
    await resources_of(request.app.state).queue.enqueue_rebuild(signed.principal.organization_id)
    return to("/console/?done=rebuild")
