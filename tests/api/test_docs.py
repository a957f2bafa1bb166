"""The interactive API docs, /docs (Swagger UI) and /redoc, come wholly from replyd itself:
they work on a machine without internet, and a reader's browser asks no third party."""

import re
from urllib.parse import urljoin, urlsplit

import httpx
import pytest

ASSET = re.compile(r"""(?:src|href|spec-url)=["']([^"']+)["']|url: ?["']([^"']+)["']""")
MEDIA_TYPES = {".js": "javascript", ".css": "text/css", ".png": "image/png", ".json": "application/json"}


def referenced_urls(html: str) -> list[str]:
    return [a or b for a, b in ASSET.findall(html)]


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
async def test_docs_page_loads_only_its_own_server_s_assets(server: str, page: str) -> None:
    async with httpx.AsyncClient(base_url=server) as client:
        html = await client.get(page)
        assert html.status_code == 200 and html.headers["content-type"].startswith("text/html")
        urls = referenced_urls(html.text)
        assert any(url.endswith(".js") for url in urls), urls
        assert "http://" not in html.text and "https://" not in html.text
        for url in urls:
            assert urlsplit(urljoin(server + page, url)).netloc == urlsplit(server).netloc, url
            asset = await client.get(url)
            assert asset.status_code == 200, url
            expected = next(kind for suffix, kind in MEDIA_TYPES.items() if url.endswith(suffix))
            assert expected in asset.headers["content-type"], (url, asset.headers["content-type"])


async def test_swagger_ui_does_not_ask_swagger_io_to_validate_the_document(server: str) -> None:
    async with httpx.AsyncClient(base_url=server) as client:
        html = (await client.get("/docs")).text
    assert '"validatorUrl": null' in html  # else Swagger UI fetches a badge from validator.swagger.io
