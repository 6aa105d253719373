"""The workspace's static files (`admin_ui/static/`), served from memory with hashed URLs.

The shell links every asset as `/static/admin/<version>/<file>`, where `<version>` is a hash of
all the files. ES modules import each other by relative URL, so a page module and the helpers
it imports inherit the same prefix: one deploy changes every URL at once, and a URL that names
the current version can be cached for a year (`immutable`). A request naming another version
(or none, as older documents did) still gets the file, but must revalidate.

Text files are gzipped once at start-up; the files are small, so memory is no concern.
"""

from __future__ import annotations

import gzip
import hashlib
import mimetypes
import re
from dataclasses import dataclass
from pathlib import Path

from starlette.datastructures import Headers
from starlette.types import Receive, Scope, Send

STATIC_DIR = Path(__file__).parent / "static"
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"
_VERSION_SEGMENT = re.compile(r"^[0-9a-f]{12}$")
_COMPRESSIBLE = (".js", ".css", ".svg", ".json", ".html", ".txt")
_TYPES = {".js": "text/javascript; charset=utf-8", ".css": "text/css; charset=utf-8"}


@dataclass(frozen=True)
class Asset:
    body: bytes
    gzipped: bytes | None
    media_type: str
    etag: str


def _load(directory: Path) -> dict[str, Asset]:
    assets: dict[str, Asset] = {}
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        name = path.relative_to(directory).as_posix()
        if name.startswith(".") or "/." in name:
            continue
        body = path.read_bytes()
        media = (
            _TYPES.get(path.suffix) or mimetypes.guess_type(name)[0] or "application/octet-stream"
        )
        packed = gzip.compress(body, 9, mtime=0) if path.suffix in _COMPRESSIBLE else None
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        assets[name] = Asset(
            body, packed if packed and len(packed) < len(body) else None, media, etag
        )
    return assets


ASSETS = _load(STATIC_DIR)
ASSET_VERSION = hashlib.sha256(
    b"".join(name.encode() + b"\0" + a.body for name, a in sorted(ASSETS.items()))
).hexdigest()[:12]


def asset_exists(name: str) -> bool:
    return name in ASSETS


class StaticAssets:
    """ASGI app for `/static/admin/...` (mounted: `path` is relative to the mount)."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert scope["type"] == "http"
        path = scope["path"]
        root = scope.get("root_path", "")
        if root and path.startswith(root):
            path = path[len(root) :]
        parts = [p for p in path.split("/") if p]
        cache = REVALIDATE
        if parts and _VERSION_SEGMENT.match(parts[0]):
            cache = IMMUTABLE if parts[0] == ASSET_VERSION else REVALIDATE
            parts = parts[1:]
        asset = ASSETS.get("/".join(parts))
        if scope["method"] not in ("GET", "HEAD") or asset is None:
            await _send(send, 404, b"Not Found", [(b"content-type", b"text/plain")])
            return
        request = Headers(scope=scope)
        headers = [
            (b"content-type", asset.media_type.encode()),
            (b"cache-control", cache.encode()),
            (b"etag", asset.etag.encode()),
            (b"vary", b"accept-encoding"),
        ]
        if request.get("if-none-match") == asset.etag:
            await _send(send, 304, b"", headers)
            return
        body = asset.body
        if asset.gzipped is not None and "gzip" in request.get("accept-encoding", ""):
            body = asset.gzipped
            headers.append((b"content-encoding", b"gzip"))
        headers.append((b"content-length", str(len(body)).encode()))
        await _send(send, 200, b"" if scope["method"] == "HEAD" else body, headers)


async def _send(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
