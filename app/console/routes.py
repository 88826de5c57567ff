"""Everything the console adds to the app: its pages and forms, its upload endpoints, its
static files and its templates."""

from typing import Any

from litestar import Request, Response, Router
from litestar.di import Provide
from litestar.static_files import create_static_files_router
from litestar.types import ControllerRouterHandler

from app.console import actions, pages, uploads
from app.console.render import STATIC, console_error, template_config
from app.console.session import MAX_FORM_BYTES, provide_signed
from app.errors import handle_exception, no_file_named_with_nul

SIGNED = {"signed": Provide(provide_signed)}

signing = Router(
    path="/console",
    route_handlers=[pages.sign_in_form, actions.post_sign_in, actions.post_sign_out],
    exception_handlers={Exception: console_error},
    request_max_body_size=MAX_FORM_BYTES,
    include_in_schema=False,
)
signed_pages = Router(
    path="/console",
    route_handlers=[
        pages.overview,
        pages.lists,
        pages.entries,
        pages.entry,
        pages.transfer,
        pages.export,
        pages.prefixes,
        pages.subscriptions,
        pages.audit,
        actions.post_list,
        actions.post_add,
        actions.post_remove,
        actions.post_prefix,
        actions.post_prefix_end,
        actions.post_switch,
        actions.post_rebuild,
    ],
    dependencies=SIGNED,
    exception_handlers={Exception: console_error},
    request_max_body_size=MAX_FORM_BYTES,
    include_in_schema=False,
)
# JSON in the API's envelope (errors too), for the import page's script
upload_api = Router(
    path="/console/api",
    route_handlers=[uploads.import_csv, uploads.import_status],
    dependencies=SIGNED,
    response_headers={"Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"},
    include_in_schema=False,
)
console_static = create_static_files_router(
    path="/console/static",
    directories=[STATIC],
    include_in_schema=False,
    name="console-static",
    before_request=no_file_named_with_nul,
)
CONSOLE_ROUTES: list[ControllerRouterHandler] = [signing, signed_pages, upload_api, console_static]


def is_console_page(path: str) -> bool:
    """A path a person's browser asks for under /console; not the import script's JSON API."""
    inside = path == "/console" or path.startswith("/console/")
    return inside and not (path == "/console/api" or path.startswith("/console/api/"))


def handle_any_exception(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    """The app's handler for what no router's own catches: a path no route matches (404), a
    method its route does not take (405, with Allow), a file the static router does not have.
    Litestar routes a request before any router's handlers apply, so a page of the console
    answers here in the console's look; every other path, in the API's envelope."""
    if is_console_page(request.scope["path"]):
        return console_error(request, exc)
    return handle_exception(request, exc)


__all__ = ["CONSOLE_ROUTES", "handle_any_exception", "template_config"]
