"""Static files served from a fixed list (no path ever reaches the file system from a
request, so there is nothing to traverse): Swagger UI 5's bundle and stylesheet from the
installed ``swagger-ui-py`` package for ``/docs``, and the console's own page files
(``app/console/static``). Each is read once, served with its content type, a strong ETag
and a day of caching (the pages link them with ``?v=<etag>``, so a new version is fetched at
once)."""

from __future__ import annotations

import hashlib
import html
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import swagger_ui
from litestar import Request, Response, get
from litestar.handlers import HTTPRouteHandler

SWAGGER_DIR = Path(swagger_ui.__path__[0]) / "static"
CONSOLE_DIR = Path(__file__).resolve().parents[1] / "console" / "static"
CACHE = "public, max-age=86400"
TYPES = {
    ".js": "text/javascript",
    ".css": "text/css",
    ".html": "text/html",
    ".png": "image/png",
}


@dataclass(frozen=True)
class Asset:
    """One file: its bytes, content type and ETag."""

    body: bytes
    media_type: str
    etag: str

    @classmethod
    def read(cls, path: Path) -> Asset:
        body = path.read_bytes()
        return cls(body, TYPES[path.suffix], hashlib.sha256(body).hexdigest()[:16])

    def response(self, request: Request[Any, Any, Any]) -> Response[bytes]:
        headers = {"Cache-Control": CACHE, "ETag": f'"{self.etag}"'}
        if request.headers.get("if-none-match") == f'"{self.etag}"':
            return Response(b"", status_code=304, headers=headers)
        return Response(self.body, media_type=self.media_type, headers=headers)


def route(path: str, asset: Asset, name: str) -> HTTPRouteHandler:
    """A public GET route serving ``asset`` at ``path`` (not in /openapi.json: a file of a
    page, not an operation)."""

    async def serve(request: Request[Any, Any, Any]) -> Response[bytes]:
        return asset.response(request)

    serve.__name__ = serve.__qualname__ = name
    return get(path, include_in_schema=False, opt={"public": True}, name=name)(serve)


def page(template: str, root_path: str, **values: str) -> str:
    """``template`` with ``@root@`` (the mount prefix, so links stay under it) and each
    ``@name@`` of ``values`` filled in, HTML-escaped."""
    for key, value in {"root": root_path, **values}.items():
        template = template.replace(f"@{key}@", html.escape(value))
    return template


SWAGGER = {
    name: Asset.read(SWAGGER_DIR / name) for name in ("swagger-ui-bundle.js", "swagger-ui.css")
}
CONSOLE = {name: Asset.read(CONSOLE_DIR / name) for name in ("console.js", "console.css")}
DOCS_FILES = frozenset(f"/docs/assets/{name}" for name in SWAGGER)
CONSOLE_FILES = frozenset(f"/console/{name}" for name in CONSOLE)
"""The files' paths: public, as the pages that load them."""
SWAGGER_ROUTES = [
    route(f"/docs/assets/{name}", asset, "docs_" + name.replace("-", "_").replace(".", "_"))
    for name, asset in SWAGGER.items()
]
CONSOLE_ROUTES = [
    route(f"/console/{name}", asset, "console_" + name.replace(".", "_"))
    for name, asset in CONSOLE.items()
]
