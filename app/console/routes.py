"""Everything the console adds to the app: its pages and forms, its upload endpoints, its
static files and its templates."""

from litestar import Router
from litestar.di import Provide
from litestar.static_files import create_static_files_router
from litestar.types import ControllerRouterHandler

from app.console import actions, pages, uploads
from app.console.render import STATIC, console_error, template_config
from app.console.session import MAX_FORM_BYTES, provide_signed
from app.errors import no_file_named_with_nul

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

__all__ = ["CONSOLE_ROUTES", "template_config"]
