"""The console's static files: looked up inside the package, never outside it."""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from importlib.resources.abc import Traversable

# Explicit, so a machine's mimetypes database cannot serve a module as text/plain (browsers
# refuse to run ES modules without a JavaScript type).
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".json": "application/json",
}
INDEX = "index.html"


@dataclass(frozen=True, slots=True)
class Asset:
    body: bytes
    content_type: str


def _root() -> Traversable:
    return resources.files("perdure.server.console").joinpath("assets")


def find_asset(relative: str) -> Asset | None:
    """The file at `relative` (a `/`-separated path under assets/), or None.

    Only plain names are followed: empty, `.`, `..` and hidden segments end the lookup, so
    a request cannot climb out of the assets folder.
    """
    segments = relative.split("/")
    if not relative or any(not s or s.startswith(".") or "\\" in s for s in segments):
        return None
    node = _root()
    for segment in segments:
        node = node.joinpath(segment)
    if not node.is_file():
        return None
    suffix = "." + segments[-1].rsplit(".", 1)[-1] if "." in segments[-1] else ""
    content_type = CONTENT_TYPES.get(suffix)
    if content_type is None:
        return None  # only the kinds of file the console is made of
    return Asset(node.read_bytes(), content_type)


def index() -> Asset:
    found = find_asset(INDEX)
    assert found is not None, "the console's index.html is missing from the package"
    return found
