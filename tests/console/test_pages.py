"""Each console page renders real data from the server: the ids, names and values these
tests created through the ingress."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from .harness import Shop, sql_text, unique


def open_page(page: Page, shop: Shop, path: str) -> None:
    page.goto(shop.ui(path))
    # The first refresh has rendered (or the page runs on request).
    expect(page.locator("#live-status")).not_to_have_text("starting…")


def shown(first: int, last: int, total: int) -> str:
    """The invocations page's range line, "1\u20132 of 3"."""
    return f"{first}\u2013{last} of {total}"


def test_overview_shows_services_counts_and_recent_failures(page: Page, shop: Shop) -> None:
    amount = int(unique("1").split("-")[1], 16) % 100_000
    retrying = shop.send("Payments/charge", amount)
    shop.wait_status(retrying, "backing-off")
    failed = shop.call_id("Payments/refund_all")
    open_page(page, shop, "")

    services = page.locator("#overview-services")
    for name, ty, handlers in (
        ("Cart", "virtual object", "3"),
        ("Greeter", "service", "2"),
        ("Order", "workflow", "3"),
        ("Payments", "service", "2"),
    ):
        row = services.locator("tr", has_text=name)
        expect(row).to_contain_text(ty)
        expect(row.locator("td.num")).to_have_text(handlers)

    counts = {
        r["status"]: r["n"]
        for r in shop.query("SELECT status, COUNT(*) AS n FROM sys_invocation GROUP BY status")
    }
    # Counts move as other invocations run; backing-off ones stay put (they retry hourly).
    card = page.locator('#status-counts [data-status="backing-off"] .n')
    expect(card).to_have_text(str(counts["backing-off"]))
    retrying_row = page.locator("#recent-failures tr", has_text=retrying)
    expect(retrying_row).to_contain_text(f"card declined for {amount}")
    expect(retrying_row).to_contain_text("backing-off")
    failed_row = page.locator("#failed-completions tr", has_text=failed)
    expect(failed_row).to_contain_text("[400] refunds are closed today")

    retrying_row.get_by_role("link", name=retrying).click()
    expect(page).to_have_url(shop.ui(f"invocations/{retrying}"))
    expect(page.locator("#invocation-status")).to_have_text("backing-off")


def test_invocations_are_filtered_and_paged(page: Page, shop: Shop) -> None:
    key = unique("paged")
    ids = [shop.call_id(f"Cart/{key}/add", item) for item in ("a", "b", "c")]
    open_page(page, shop, f"invocations?service=Cart&key={key}&limit=2")
    table = page.locator("#invocations-table")
    expect(page.locator("#invocations-range")).to_have_text(shown(1, 2, 3))
    expect(table.locator("tbody tr")).to_have_count(2)
    # Newest first.
    expect(table.locator("tbody tr").nth(0)).to_contain_text(ids[2])
    page.get_by_role("link", name=re.compile("^older")).click()
    expect(page.locator("#invocations-range")).to_have_text(shown(3, 3, 3))
    expect(table.locator("tbody tr")).to_have_count(1)
    expect(table.locator("tbody tr")).to_contain_text(ids[0])

    # The form: status, handler, key, age and a free SQL condition, AND-ed.
    open_page(page, shop, "invocations")
    form = page.locator("#invocation-filters")
    form.locator('select[name="status"]').select_option("completed")
    form.locator('input[name="handler"]').fill("add")
    form.locator('input[name="key"]').fill(key)
    form.locator('select[name="age"]').select_option("60")
    form.locator('input[name="where"]').fill(f"id <> {sql_text(ids[1])}")
    form.get_by_role("button", name="Apply").click()
    expect(page.locator("#invocations-range")).to_have_text(shown(1, 2, 2))
    rows = table.locator("tbody tr")
    expect(rows.nth(0)).to_contain_text(ids[2])
    expect(rows.nth(1)).to_contain_text(ids[0])
    assert "key=" + key in page.url and "age=60" in page.url

    rows.nth(1).get_by_role("link", name=ids[0]).click()
    expect(page).to_have_url(shop.ui(f"invocations/{ids[0]}"))
    expect(page.locator("#journal")).to_contain_text('"a"')
    page.go_back()

    # A broken condition shows the server's own message.
    form = page.locator("#invocation-filters")
    form.locator('input[name="where"]').fill("no_such_column = 1")
    form.get_by_role("button", name="Apply").click()
    expect(table.locator(".message.error")).to_contain_text("no_such_column")


def test_invocation_page_shows_header_journal_and_call_tree(page: Page, shop: Shop) -> None:
    first, second = unique("ann"), unique("bob")
    answer = shop.call("Greeter/greet_all", [first, second])
    assert answer.json() == [f"Hello, {first}!", f"Hello, {second}!"]
    parent = answer.headers["x-restate-id"]
    children = [
        r["id"]
        for r in shop.query(
            "SELECT id FROM sys_invocation WHERE invoked_by_id = "
            f"{sql_text(parent)} ORDER BY created_at"
        )
    ]
    assert len(children) == 2
    open_page(page, shop, f"invocations/{parent}")

    header = page.locator("#invocation-header")
    expect(page.locator("#invocation-id")).to_have_text(parent)
    expect(page.locator("#invocation-status")).to_have_text("completed")
    expect(header).to_contain_text("Greeter/greet_all")
    expect(header).to_contain_text("Retry count")
    expect(header).to_contain_text("Pinned deployment")

    journal = page.locator("#journal > li")
    expect(journal).to_have_count(8)  # input, twice (call, its id, its result), output
    call = page.locator("#entry-1")
    expect(call).to_contain_text("Call")
    expect(call).to_contain_text("target: Greeter/greet")
    expect(call).to_contain_text(f'argument: "{first}"')
    expect(call).to_contain_text("answered by #2 Notification: CallInvocationId")
    expect(call).to_contain_text(f'result "Hello, {first}!"')
    expect(page.locator("#entry-2")).to_contain_text(children[0])
    expect(page.locator("#entry-2")).to_contain_text("completes #1 Command: Call")
    expect(page.locator("#entry-7")).to_contain_text(f'["Hello, {first}!","Hello, {second}!"]')

    tree = page.locator("#call-tree")
    for child in children:
        expect(tree.locator(f'li[data-id="{child}"]')).to_contain_text("Greeter/greet")
    tree.get_by_role("link", name=children[1]).click()
    expect(page.locator("#invocation-id")).to_have_text(children[1])
    # From the child, the caller is above it in the tree and in the header.
    expect(page.locator(f'#call-tree li[data-id="{parent}"]')).to_contain_text("Greeter/greet_all")
    expect(page.locator("#invocation-header")).to_contain_text(parent)
    expect(page.locator("#journal")).to_contain_text(f'"Hello, {second}!"')


def test_invocation_page_says_why_a_call_waits(page: Page, shop: Shop) -> None:
    key = unique("locked")
    holder = shop.send(f"Cart/{key}/hold")
    shop.wait_status(holder, "running", "suspended")
    waiting = shop.send(f"Cart/{key}/add", "pear")
    shop.wait_status(waiting, "pending")
    open_page(page, shop, f"invocations/{waiting}")
    why = page.locator("#invocation-why")
    expect(why).to_contain_text(f"Waiting in the inbox of Cart/{key} (position 1 of 1)")
    expect(why.get_by_role("link", name=holder)).to_be_visible()
    shop.http.patch(f"{shop.admin_url}/invocations/{holder}/kill").raise_for_status()


def test_state_page_shows_each_key_and_its_decoded_values(page: Page, shop: Shop) -> None:
    key = unique("basket")
    shop.call(f"Cart/{key}/add", "apple")
    shop.call(f"Cart/{key}/add", "fig")
    open_page(page, shop, "state")
    expect(page.locator("#state-service")).to_have_value("Cart")
    page.locator("#state-keys").get_by_role("link", name=re.compile(key)).click()
    entries = page.locator("#state-entries")
    row = entries.locator('tr[data-name="items"]')
    expect(row.locator("pre.value")).to_have_text('[\n  "apple",\n  "fig"\n]')
    expect(row.locator("td.num")).to_have_text(str(len('["apple","fig"]')))

    # Another kind of keyed service: a workflow's state.
    order = unique("order")
    run = shop.send(f"Order/{order}/run", "book")
    shop.wait_invocation(run, "to set its stage", lambda r: r["journal_size"] >= 2)
    page.locator("#state-service").select_option("Order")
    page.locator("#state-keys").get_by_role("link", name=re.compile(order)).click()
    expect(page.locator('#state-entries tr[data-name="stage"] pre.value')).to_have_text('"waiting"')
    page.go_back()
    page.go_back()

    # A value that is not UTF-8 shows as hex (written through the admin API).
    shop.http.post(
        f"{shop.admin_url}/services/Cart/state",
        json={"object_key": key, "new_state": {"items": [0xFF, 0x00, 0x41]}},
    ).raise_for_status()
    expect(row.locator("pre.value")).to_have_text("ff0041")


def test_workflows_page_shows_runs_and_promises(page: Page, shop: Shop) -> None:
    waiting, decided = unique("order"), unique("order")
    waiting_run = shop.send(f"Order/{waiting}/run", "book")
    decided_run = shop.send(f"Order/{decided}/run", "pen")
    assert shop.call(f"Order/{decided}/decide", "approved").status_code == 200
    shop.wait_invocation(decided_run, "to sleep", lambda r: r["journal_size"] >= 6)
    shop.wait_status(waiting_run, "running", "suspended")
    open_page(page, shop, "workflows")
    expect(page.locator("#workflow-service")).to_have_value("Order")
    waiting_row = page.locator(f'#workflow-keys tr[data-key="{waiting}"]')
    expect(waiting_row).to_contain_text(waiting_run)
    expect(waiting_row.locator('[data-promise="decision"]')).to_contain_text("awaited")
    decided_row = page.locator(f'#workflow-keys tr[data-key="{decided}"]')
    expect(decided_row).to_contain_text(decided_run)
    expect(decided_row).to_contain_text(shop.invocation(decided_run)["status"])  # type: ignore[index]
    expect(decided_row.locator('[data-promise="decision"]')).to_contain_text('"approved"')


def test_services_page_lists_deployments_services_and_handlers(page: Page, shop: Shop) -> None:
    deployments = shop.http.get(f"{shop.admin_url}/deployments").json()["deployments"]
    open_page(page, shop, "services")
    for deployment in deployments:
        row = page.locator(f'#deployments tr[data-id="{deployment["id"]}"]')
        expect(row).to_contain_text(deployment["uri"])
        expect(row).to_contain_text("Payments (rev 1)")
    order = page.locator('#services [data-service="Order"]')
    expect(order).to_contain_text("Workflow")
    expect(order.locator('tr[data-handler="run"]')).to_contain_text("Workflow")
    expect(order.locator('tr[data-handler="decide"]')).to_contain_text("Shared")
    expect(page.locator('#services [data-service="Cart"] tr[data-handler="add"]')).to_contain_text(
        "JSON string"
    )


def test_sql_page_runs_a_query_and_shows_errors(page: Page, shop: Shop) -> None:
    name = unique("sql")
    invocation_id = shop.call_id("Greeter/greet", name)
    open_page(page, shop, "sql")
    editor = page.locator("#sql-query")
    editor.fill(
        f"SELECT id, target, status FROM sys_invocation WHERE id = {sql_text(invocation_id)}"
    )
    page.locator("#sql-run").click()
    expect(page.locator("#sql-summary")).to_have_text(re.compile(r"^1 row in \d+ ms$"))
    result = page.locator("#sql-result tbody tr")
    expect(result).to_have_count(1)
    expect(result).to_contain_text(invocation_id)
    expect(result).to_contain_text("Greeter/greet")

    editor.fill("DELETE FROM sys_invocation")
    editor.press("Control+Enter")
    error = shop.http.post(
        f"{shop.admin_url}/query",
        json={"query": "DELETE FROM sys_invocation"},
        headers={"accept": "application/json"},
    ).json()["message"]
    expect(page.locator("#sql-result .message.error")).to_have_text(f"HTTP 400: {error}")
