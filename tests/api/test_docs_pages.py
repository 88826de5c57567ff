"""``/`` points to the console and the documentation; the OpenAPI pages load every script
and style from the service itself (a closed network has no CDN)."""

import re

from tests.support.helpers import Client

ATTRIBUTES = re.compile(r"""(?:src|href)\s*=\s*["']([^"']*)["']""")


async def test_the_landing_page_points_to_the_console_and_the_docs(client: Client) -> None:
    response = await client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    links = ATTRIBUTES.findall(response.text)
    assert "/console" in links
    assert "/schema/swagger" in links


async def test_the_openapi_pages_load_nothing_from_outside(client: Client) -> None:
    for page in ("/schema", "/schema/swagger"):
        response = await client.get(page)
        assert response.status_code == 200
        assets = ATTRIBUTES.findall(response.text)
        assert len(assets) == 3, assets  # the style, the bundle and the preset
        for asset in assets:
            assert asset.startswith("/"), f"{page} loads {asset} from elsewhere"
            loaded = await client.get(asset)
            assert loaded.status_code == 200, asset
            assert len(loaded.content) > 100_000, asset  # the real thing, not a stub
        assert "cdn." not in response.text
        assert "fonts.googleapis" not in response.text
