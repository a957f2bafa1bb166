"""The interactive API docs, ``/docs`` (Swagger UI) and ``/redoc``, served wholly from replyd.

FastAPI's own pages load Swagger UI and ReDoc from a CDN, so they are blank offline. These
load the copies that the pinned ``fastapi-offline`` package ships (swagger-ui-dist 5, Apache
2.0; redoc 2, MIT), mounted at ``ASSETS_PATH``. Nothing else is fetched from elsewhere either:
Swagger's online validator is off, and the pages forbid images from other hosts, since ReDoc
always asks cdn.redoc.ly for the logo beside its "API docs by Redocly" link."""

from fastapi import FastAPI, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from starlette.responses import HTMLResponse
from starlette.staticfiles import StaticFiles

ASSETS_PATH = "/docs/assets"
OWN_IMAGES_ONLY = {"Content-Security-Policy": "img-src 'self' data:"}


def install_docs(app: FastAPI) -> None:
    """Serve the two pages; ``app`` must be made with ``docs_url=None, redoc_url=None``."""
    app.mount(ASSETS_PATH, StaticFiles(packages=[("fastapi_offline", "static")]), name="docs-assets")
    app.add_api_route("/docs", swagger_ui, include_in_schema=False)
    app.add_api_route("/redoc", redoc, include_in_schema=False)


async def swagger_ui(request: Request) -> HTMLResponse:
    spec, assets, title = _where(request)
    page = get_swagger_ui_html(
        openapi_url=spec,
        title=f"{title} - Swagger UI",
        swagger_js_url=f"{assets}/swagger-ui-bundle.js",
        swagger_css_url=f"{assets}/swagger-ui.css",
        swagger_favicon_url=f"{assets}/favicon.png",
        swagger_ui_parameters={"validatorUrl": None},
    )
    return _own_images_only(page)


async def redoc(request: Request) -> HTMLResponse:
    spec, assets, title = _where(request)
    page = get_redoc_html(
        openapi_url=spec,
        title=f"{title} - ReDoc",
        redoc_js_url=f"{assets}/redoc.standalone.js",
        redoc_favicon_url=f"{assets}/favicon.png",
        with_google_fonts=False,
    )
    return _own_images_only(page)


def _where(request: Request) -> tuple[str, str, str]:
    """The OpenAPI document's URL, the assets' URL (both under a proxy's root path) and the title."""
    root = request.scope.get("root_path", "")
    return f"{root}{request.app.openapi_url}", f"{root}{ASSETS_PATH}", request.app.title


def _own_images_only(page: HTMLResponse) -> HTMLResponse:
    page.headers.update(OWN_IMAGES_ONLY)
    return page
