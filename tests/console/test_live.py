"""Live updates: an open page shows what changed on the server without a reload."""

from __future__ import annotations

import re
from pathlib import Path

from playwright.sync_api import Page, expect

from .harness import Shop, unique
from .test_pages import open_page

MAIN_JS = Path(__file__).resolve().parents[2] / "src/perdure/server/console/assets/js/main.js"
REFRESH_MS = int(re.search(r"REFRESH_MS = (\d+);", MAIN_JS.read_text()).group(1))  # type: ignore[union-attr]


def test_a_new_invocation_appears_on_the_open_invocations_page(page: Page, shop: Shop) -> None:
    key = unique("live")
    first = shop.call_id(f"Cart/{key}/add", "one")
    open_page(page, shop, f"invocations?key={key}")
    rows = page.locator("#invocations-table tbody tr")
    expect(rows).to_have_count(1)
    page.evaluate("window.__notReloaded = true")

    second = shop.send(f"Cart/{key}/add", "two")
    expect(page.locator(f'#invocations-table tr[data-id="{second}"]')).to_be_visible()
    expect(rows).to_have_count(2)
    expect(page.locator(f'#invocations-table tr[data-id="{first}"]')).to_be_visible()
    assert page.evaluate("window.__notReloaded") is True
    # The status moves on too, still without a reload.
    shop.wait_status(second, "completed")
    expect(page.locator(f'#invocations-table tr[data-id="{second}"]')).to_contain_text("completed")


# Counts the page's requests as they are made (synchronously, unlike network events).
COUNT_FETCHES = """
window.__fetches = 0;
const original = window.fetch;
window.fetch = (...args) => { window.__fetches += 1; return original(...args); };
"""


def test_pausing_live_updates_stops_the_polling(page: Page, shop: Shop) -> None:
    # The page's clock is the test's: polling intervals pass when the test says so.
    page.clock.install()
    page.add_init_script(COUNT_FETCHES)
    key = unique("paused")
    open_page(page, shop, f"invocations?key={key}")
    status = page.locator("#live-status")
    expect(status).to_contain_text("live")
    before = page.evaluate("window.__fetches")
    page.clock.run_for(REFRESH_MS + 100)
    assert page.evaluate("window.__fetches") > before  # a poll ran

    page.locator("#live-toggle").click()
    expect(status).to_have_text("paused")
    sent = shop.send(f"Cart/{key}/add", "unseen")
    shop.wait_status(sent, "completed")
    paused_at = page.evaluate("window.__fetches")
    page.clock.run_for(3 * REFRESH_MS)
    assert page.evaluate("window.__fetches") == paused_at  # no poll while paused
    expect(page.locator("#invocations-table tbody tr")).to_have_count(0)

    page.locator("#live-toggle").click()  # resuming refreshes at once
    expect(page.locator(f'#invocations-table tr[data-id="{sent}"]')).to_be_visible()
    expect(status).to_contain_text("live")


def test_a_hidden_tab_does_not_poll(page: Page, shop: Shop) -> None:
    page.clock.install()
    page.add_init_script(COUNT_FETCHES)
    key = unique("hidden")
    open_page(page, shop, f"invocations?key={key}")
    expect(page.locator("#live-status")).to_contain_text("live")
    page.evaluate(SET_VISIBILITY, "hidden")
    hidden_at = page.evaluate("window.__fetches")
    sent = shop.send(f"Cart/{key}/add", "later")
    shop.wait_status(sent, "completed")
    page.clock.run_for(3 * REFRESH_MS)
    assert page.evaluate("window.__fetches") == hidden_at
    expect(page.locator("#live-status")).to_have_text("hidden")
    page.evaluate(SET_VISIBILITY, "visible")  # shown again: refreshed at once
    expect(page.locator(f'#invocations-table tr[data-id="{sent}"]')).to_be_visible()


# Headless Chromium's tabs are always visible; the test tells the page otherwise.
SET_VISIBILITY = """(state) => {
  Object.defineProperty(document, "visibilityState", { configurable: true, get: () => state });
  document.dispatchEvent(new Event("visibilitychange"));
}"""
