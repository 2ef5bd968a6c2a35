"""The pages' static files: our own CSS and JavaScript (`cloud/web/static/`) and the browser packages that
`make web-assets` copies from npm (`static/vendor/`, not committed).

Every file is read once, when the process starts, and served from memory at `/static/<digest>/<name>`, where
the digest is a hash of its content: a changed file gets a new address, so browsers may keep each address
forever (`Cache-Control: public, max-age=31536000, immutable`), and an address whose digest is not the
current one answers 404 rather than new content under an old name. A gzip copy is kept for clients that
accept it. The pages themselves and the API stay `no-store` (cloud/middleware.py).
"""

from __future__ import annotations

import gzip
import hashlib
import logging
import mimetypes
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from fastapi import APIRouter, Request, Response

from cloud.access.policy import Public
from cloud.web.navigation import PAGES_TAG

log = logging.getLogger(__name__)
STATIC_DIR = Path(__file__).parent / "static"
PREFIX = "/static/"
IMMUTABLE = "public, max-age=31536000, immutable"
SERVED_SUFFIXES = {".css", ".js", ".svg", ".png", ".ico", ".woff2"}
router = APIRouter(include_in_schema=False, tags=[PAGES_TAG])


@dataclass(frozen=True)
class Asset:
    """One static file as it is served."""

    body: bytes
    compressed: bytes
    digest: str
    media_type: str


class Assets:
    """The static files under a folder, by their name relative to it."""

    def __init__(self, root: Path) -> None:
        self.files: dict[str, Asset] = {}
        for path in sorted(root.rglob("*")):
            if path.is_file() and path.suffix in SERVED_SUFFIXES:
                body = path.read_bytes()
                media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
                self.files[path.relative_to(root).as_posix()] = Asset(
                    body=body,
                    compressed=gzip.compress(body, compresslevel=9, mtime=0),
                    digest=hashlib.sha256(body).hexdigest()[:16],
                    media_type=f"{media_type}; charset=utf-8" if media_type.startswith("text/") else media_type,
                )

    def url(self, name: str) -> str:
        """The file's address (with its content digest). A file that is missing, such as a browser package
        before `make web-assets` has run, gets an address that answers 404; the page still renders."""
        asset = self.files.get(name)
        if asset is None:
            log.warning("static file %s is missing; run `make web-assets`", name)
            return f"{PREFIX}missing/{name}"
        return f"{PREFIX}{asset.digest}/{name}"


@cache
def assets() -> Assets:
    """The process's static files, read on first use."""
    return Assets(STATIC_DIR)


@router.get(PREFIX + "{digest}/{name:path}", dependencies=[Public])
async def static_file(digest: str, name: str, request: Request) -> Response:
    """A static file by its current address, gzip-compressed when the client accepts it."""
    asset = assets().files.get(name)
    if asset is None or asset.digest != digest:
        return Response("Not found", status_code=404, media_type="text/plain")
    headers = {"Cache-Control": IMMUTABLE, "Vary": "Accept-Encoding"}
    if "gzip" in request.headers.get("accept-encoding", ""):
        headers["Content-Encoding"] = "gzip"
        return Response(asset.compressed, media_type=asset.media_type, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)
