"""Screenshots of the main pages, made from data this test creates.

    PERDURE_CONSOLE_SCREENSHOTS=docs/console scripts/test tests/console -k screenshots

writes them into docs/console/ (the committed ones in README.md and docs/console.md come
from there); without the variable they go to a temporary folder. Either way each page
must render without a script error and the picture must be a real PNG.
"""

from __future__ import annotations

import os
from pathlib import Path
from urllib.parse import quote

from playwright.sync_api import Page, expect

from .harness import Shop, unique
from .test_pages import open_page

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_screenshots(page: Page, shop: Shop, tmp_path: Path) -> None:
    target = Path(os.environ.get("PERDURE_CONSOLE_SCREENSHOTS") or tmp_path)
    target.mkdir(parents=True, exist_ok=True)
    cart, order = unique("cart"), unique("order")
    parent = shop.call_id("Greeter/greet_all", ["Ann", "Bob"])
    for item in ("apple", "fig"):
        shop.call(f"Cart/{cart}/add", item)
    run = shop.send(f"Order/{order}/run", "book")
    shop.call(f"Order/{order}/decide", "approved")
    shop.wait_invocation(run, "to sleep", lambda r: r["journal_size"] >= 6)
    charge = shop.send("Payments/charge", 42)
    shop.wait_status(charge, "backing-off")
    shop.call("Payments/refund_all")

    shots = {
        "overview": ("", "#status-counts"),
        "invocations": ("invocations", "#invocations-table tbody tr"),
        "invocation": (f"invocations/{parent}", "#journal > li"),
        "state": (f"state?service=Cart&key={cart}", '#state-entries tr[data-name="items"]'),
        "workflows": ("workflows", f'#workflow-keys tr[data-key="{order}"]'),
        "services": ("services", '#services [data-service="Order"]'),
        "sql": (
            "sql?q=" + quote("SELECT status, COUNT(*) AS n FROM sys_invocation GROUP BY status"),
            "#sql-result tbody tr",
        ),
    }
    for name, (path, ready) in shots.items():
        open_page(page, shop, path)
        expect(page.locator(ready).first).to_be_visible()
        file = target / f"{name}.png"
        page.screenshot(path=str(file), full_page=name not in ("services", "invocations"))
        assert file.read_bytes().startswith(PNG_MAGIC), file
