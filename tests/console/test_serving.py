"""The admin app serves the console at /ui: redirects, assets with their content types,
index.html for client-side routes, nothing from outside the assets, and the thin proxy
to the ingress at /ui/api/invoke."""

from __future__ import annotations

import asyncio
import fnmatch
import tomllib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from perdure.server.config import ServerConfig
from perdure.server.console import Console
from perdure.server.http import Message, Request
from tests.support.ports import free_port

from .harness import Shop, unique

REPO = Path(__file__).resolve().parents[2]
ASSETS = REPO / "src" / "perdure" / "server" / "console" / "assets"
TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
}


def asset_files() -> list[Path]:
    return sorted(p for p in ASSETS.rglob("*") if p.is_file())


def test_the_admin_root_and_ui_redirect_to_the_console(shop: Shop) -> None:
    for path in ("/", "/ui"):
        answer = shop.http.get(shop.admin_url + path)
        assert answer.status_code == 308, path
        assert answer.headers["location"] == "/ui/"
    page = shop.http.get(shop.admin_url + "/", follow_redirects=True)
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert '<script type="module" src="js/main.js">' in page.text


def test_every_asset_is_served_with_its_content_type(shop: Shop) -> None:
    files = asset_files()
    assert len(files) >= 10  # index, css, icon, the modules and the pages
    for file in files:
        relative = file.relative_to(ASSETS).as_posix()
        answer = shop.http.get(shop.ui(relative))
        assert answer.status_code == 200, relative
        assert answer.headers["content-type"].startswith(TYPES[file.suffix]), relative
        assert answer.content == file.read_bytes(), relative


def test_client_side_routes_get_the_index(shop: Shop) -> None:
    index = (ASSETS / "index.html").read_bytes()
    for path in ("invocations/inv_1abc", "state", "no/such/page", "..%2f..%2fpyproject.toml"):
        answer = shop.http.get(shop.ui(path))
        assert answer.status_code == 200, path
        assert answer.content == index, path


def test_unknown_api_paths_and_writes_to_assets_are_refused(shop: Shop) -> None:
    missing = shop.http.get(shop.ui("api/nothing"))
    assert missing.status_code == 404
    assert "not found" in missing.json()["message"]
    write = shop.http.post(shop.ui("js/main.js"), content=b"x")
    assert write.status_code == 405


def test_every_asset_ships_in_the_package() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["perdure"]
    package = REPO / "src" / "perdure"
    for file in asset_files():
        relative = file.relative_to(package).as_posix()
        assert any(fnmatch.fnmatchcase(relative, p) for p in patterns), relative


def test_the_proxy_forwards_calls_and_sends_to_the_ingress(shop: Shop) -> None:
    name = unique("proxied")
    call = shop.http.post(shop.ui("api/invoke/Greeter/greet"), json=name)
    assert (call.status_code, call.json()) == (200, f"Hello, {name}!")
    call_id = call.headers["x-restate-id"]
    assert shop.invocation(call_id)["target"] == "Greeter/greet"  # type: ignore[index]

    key = unique("cart")
    sent = shop.http.post(shop.ui(f"api/invoke/Cart/{key}/add/send"), json="plum")
    assert sent.status_code == 202, sent.text
    sent_id = sent.json()["invocationId"]
    shop.wait_status(sent_id, "completed")
    output = shop.http.get(shop.ui(f"api/invoke/restate/invocation/{sent_id}/output"))
    assert (output.status_code, output.json()) == (200, ["plum"])


def test_the_proxy_passes_the_ingress_errors_through(shop: Shop) -> None:
    answer = shop.http.post(shop.ui("api/invoke/NoSuchService/handler"), json=1)
    direct = shop.http.post(f"{shop.ingress_url}/NoSuchService/handler", json=1)
    assert answer.status_code == direct.status_code == 404
    assert answer.json() == direct.json()
    refused = shop.http.put(shop.ui("api/invoke/Greeter/greet"), json="x")
    assert refused.status_code == 405


def test_the_proxy_says_when_the_ingress_is_unreachable() -> None:
    port = free_port()  # nothing listens there
    console = Console(ServerConfig(host="0.0.0.0", ingress_port=port))
    sent = [{"type": "http.request", "body": b'"x"', "more_body": False}]

    async def receive() -> Message:
        return sent.pop() if sent else {"type": "http.disconnect"}

    scope = {
        "type": "http",
        "method": "POST",
        "path": "/ui/api/invoke/Greeter/greet",
        "query_string": b"",
        "headers": [(b"content-type", b"application/json")],
    }
    # In a thread of its own: Playwright's sync API may hold this thread's event loop.
    with ThreadPoolExecutor(1) as pool:
        answer = pool.submit(
            asyncio.run, console.handle(Request.from_scope(scope, receive))
        ).result()
    assert answer.status == 502
    # A wildcard bind address is reached on loopback.
    assert f"http://127.0.0.1:{port}" in httpx.Response(502, content=answer.body).json()["message"]
