"""``/``: where a person lands (the console, the API's documentation), and the OpenAPI pages'
scripts served from the service itself (``app/static/openapi``), so ``/schema`` and
``/schema/swagger`` work on a closed network."""

from pathlib import Path

from litestar import MediaType, get
from litestar.openapi.plugins import SwaggerRenderPlugin
from litestar.static_files import create_static_files_router

from app.errors import no_file_named_with_nul

ASSETS = Path(__file__).resolve().parent.parent / "static" / "openapi"
ASSETS_PATH = "/static/openapi"

LANDING = """<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>DNC service</title></head>
<body>
<h1>DNC service</h1>
<ul>
<li><a href="/console">The console</a>: sign in with an API token</li>
<li><a href="/schema/swagger">The API's documentation</a> (OpenAPI, and
<a href="/schema/openapi.json">its JSON</a>)</li>
<li><a href="/health">/health</a>, <a href="/ready">/ready</a>,
<a href="/metrics">/metrics</a></li>
</ul>
</body>
</html>
"""


@get("/", media_type=MediaType.HTML, include_in_schema=False)
async def landing() -> str:
    return LANDING


def openapi_pages() -> SwaggerRenderPlugin:
    """Swagger UI at ``/schema`` and ``/schema/swagger``, from the vendored scripts, with no
    favicon fetched from a CDN."""
    return SwaggerRenderPlugin(
        js_url=f"{ASSETS_PATH}/swagger-ui-bundle.js",
        css_url=f"{ASSETS_PATH}/swagger-ui.css",
        standalone_preset_js_url=f"{ASSETS_PATH}/swagger-ui-standalone-preset.js",
        path=["/swagger", "/"],
        favicon="",
    )


assets = create_static_files_router(
    path=ASSETS_PATH,
    directories=[ASSETS],
    include_in_schema=False,
    name="openapi-assets",
    before_request=no_file_named_with_nul,
)
