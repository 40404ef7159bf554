"""The console's schedules and limits pages, against their own `perdure dev` hosting an app
with a code schedule and a limit: ticks show up live, pause / resume / trigger act on the
server, running and queued invocations of a limit are counted."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.support.perdure import PerdureServer

APP = Path(__file__).resolve().parents[1] / "features" / "apps" / "scheduled.py"


@pytest.fixture(scope="module")
def scheduled(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PerdureServer]:
    workdir = tmp_path_factory.mktemp("schedules-dev")
    server = PerdureServer(workdir, app=APP, data_dir=workdir / "data")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def tab(browser: BrowserContext) -> Iterator[Page]:
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        yield page
    finally:
        page.close()
    assert not errors, f"the console raised in the browser: {errors}"


def schedule(server: PerdureServer) -> dict[str, object]:
    answer = httpx.get(f"{server.admin_url}/schedules/often", timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()  # type: ignore[no-any-return]


def test_the_schedules_page_shows_and_controls_schedules(
    tab: Page, scheduled: PerdureServer
) -> None:
    tab.goto(f"{scheduled.admin_url}/ui/schedules")
    row = tab.locator('#schedules tr[data-schedule="often"]')
    expect(row).to_contain_text("*/2 * * * * * (UTC)")
    expect(row).to_contain_text("Reports/build")
    expect(row.get_by_role("link")).to_have_text(re.compile(r"^inv_"))  # the last tick's run

    row.locator('button[data-action="pause"]').click()
    expect(row).to_contain_text("paused")
    assert schedule(scheduled)["paused"] is True
    row.locator('button[data-action="resume"]').click()
    expect(row).to_contain_text("active")
    assert schedule(scheduled)["paused"] is False

    row.locator('button[data-action="trigger"]').click()
    notice = tab.locator("#schedule-notice")
    expect(notice).to_contain_text("often: started inv_")
    started = notice.inner_text().rsplit(" ", 1)[1]
    attached = httpx.get(f"{scheduled.ingress_url}/restate/invocation/{started}/attach", timeout=10)
    assert attached.status_code == 200 and attached.json().startswith("daily at ")


def test_the_limits_page_shows_running_and_queued(tab: Page, scheduled: PerdureServer) -> None:
    for _ in range(3):
        sent = httpx.post(f"{scheduled.ingress_url}/Reports/slow/send", json=30, timeout=10)
        assert sent.status_code == 202
    tab.goto(f"{scheduled.admin_url}/ui/limits")
    row = tab.locator('#limits tr[data-rule="code:Reports/slow"]')
    expect(row).to_contain_text("Reports/slow")
    expect(row.locator("td.num").nth(1)).to_have_text("1")  # running
    expect(row.locator("td.num").nth(2)).to_have_text("2")  # queued
