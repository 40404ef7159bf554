"""One `perdure dev` serving apps/shop.py and one headless Chromium for the console suite;
each test opens a fresh page and makes its own invocations (unique keys and names).

Package-scoped, not session-scoped: Playwright's sync API keeps an event loop running in
this thread while it is open, which would break every asyncio test after this package.

Chromium is Debian's (`apt-get install chromium`), driven by Playwright for Python; nothing
is downloaded (`playwright install` is never needed).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from tests.support.perdure import PerdureServer

from .harness import Shop

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Page

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-sync",
]
APP = Path(__file__).resolve().parent / "apps" / "shop.py"
EXPECT_TIMEOUT_MS = 10_000


@pytest.fixture(scope="package")
def shop(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Shop]:
    workdir = tmp_path_factory.mktemp("console-dev")
    server = PerdureServer(workdir, app=APP, data_dir=workdir / "data")
    server.start()
    try:
        with Shop(server.ingress_url, server.admin_url) as client:
            yield client
    finally:
        server.stop()


@pytest.fixture(scope="package")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[BrowserContext]:
    if not os.access(CHROMIUM, os.X_OK):
        pytest.fail(
            f"{CHROMIUM} is missing: the console tests need Debian's `chromium` package "
            "(apt-get install -y chromium; .ci/run installs it)",
            pytrace=False,
        )
    try:
        from playwright.sync_api import expect, sync_playwright
    except ImportError:
        pytest.fail(
            "the console tests need Playwright for Python: pip install -e '.[dev]'",
            pytrace=False,
        )
    expect.set_options(timeout=EXPECT_TIMEOUT_MS)
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path_factory.mktemp("chromium-profile")),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_ARGS,
            viewport={"width": 1360, "height": 900},
        )
        try:
            yield context
        finally:
            context.close()


@pytest.fixture
def page(browser: BrowserContext, shop: Shop) -> Iterator[Page]:
    """A fresh tab; confirmation dialogs are accepted; a script error fails the test."""
    tab = browser.new_page()
    errors: list[str] = []
    tab.on("pageerror", lambda error: errors.append(str(error)))
    tab.on("dialog", lambda dialog: dialog.accept())
    tab.set_default_timeout(EXPECT_TIMEOUT_MS)
    try:
        yield tab
    finally:
        tab.close()
    assert not errors, f"the console raised in the browser: {errors}"
