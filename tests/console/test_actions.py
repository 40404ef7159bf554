"""The console's actions change the server: checked through `/query` and the ingress, never
through the console itself."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from .harness import Shop, sql_text, unique
from .test_pages import open_page


def click_action(page: Page, name: str) -> None:
    page.locator(f'button[data-action="{name}"]').click()


def test_cancel_runs_the_handlers_compensation(page: Page, shop: Shop) -> None:
    key = unique("order")
    run = shop.send(f"Order/{key}/run", "lamp")
    shop.wait_status(run, "running", "suspended")  # waiting for its promise
    open_page(page, shop, f"invocations/{run}")
    click_action(page, "cancel")
    expect(page.locator("#action-outcome")).to_contain_text("Cancel: accepted by the server")
    row = shop.wait_status(run, "completed")
    assert row["completion_failure"].startswith("[409]"), row
    assert shop.call(f"Order/{key}/stage").json() == "refunded"
    # The page follows without a reload: status, result and the cancel signal in the journal.
    expect(page.locator("#invocation-status")).to_have_text("completed")
    expect(page.locator("#completion-failure")).to_have_text(row["completion_failure"])
    expect(page.locator("#journal")).to_contain_text("cancel")


def test_kill_completes_at_once_and_frees_the_key(page: Page, shop: Shop) -> None:
    key = unique("held")
    holder = shop.send(f"Cart/{key}/hold")
    shop.wait_status(holder, "running", "suspended")
    waiting = shop.send(f"Cart/{key}/add", "pear")
    shop.wait_status(waiting, "pending")
    open_page(page, shop, f"invocations/{holder}")
    click_action(page, "kill")
    row = shop.wait_status(holder, "completed")
    assert row["completion_failure"] == "[409] killed"
    shop.wait_status(waiting, "completed")  # the next in the key's inbox ran
    assert shop.call(f"Cart/{key}/items").json() == ["pear"]
    expect(page.locator("#action-outcome")).to_contain_text("Kill: accepted by the server")


def test_pause_then_resume(page: Page, shop: Shop) -> None:
    charge = shop.send("Payments/charge", 7)
    shop.wait_status(charge, "backing-off")
    open_page(page, shop, f"invocations/{charge}")
    expect(page.locator("#invocation-why")).to_contain_text("The last attempt failed")
    click_action(page, "pause")
    shop.wait_status(charge, "paused")
    expect(page.locator("#invocation-status")).to_have_text("paused")
    click_action(page, "resume")
    # A new attempt ran at once (and failed again: the handler always does).
    row = shop.wait_invocation(
        charge, "to have failed a second attempt",
        lambda r: r["status"] == "backing-off" and r["retry_count"] == 2,
    )  # fmt: skip
    # restate's rendering: the code and its name, the message, then the stack trace.
    assert row["last_failure"].startswith("[500 Internal] RuntimeError('card declined for 7')")
    expect(page.locator("#invocation-status")).to_have_text("backing-off")


def test_retry_now_starts_the_next_attempt_of_a_backing_off_invocation(
    page: Page, shop: Shop
) -> None:
    charge = shop.send("Payments/charge", 8)
    first = shop.wait_status(charge, "backing-off")
    assert first["retry_count"] == 1
    open_page(page, shop, f"invocations/{charge}")
    click_action(page, "retry-now")
    shop.wait_invocation(charge, "to be retried", lambda r: r["retry_count"] == 2)
    expect(page.locator("#invocation-header")).to_contain_text(re.compile(r"Retry count\s*2"))


def test_purge_deletes_a_completed_invocation(page: Page, shop: Shop) -> None:
    done = shop.call_id("Greeter/greet", unique("purged"))
    open_page(page, shop, f"invocations/{done}")
    expect(page.locator("#invocation-status")).to_have_text("completed")
    click_action(page, "purge")
    expect(page.locator("#action-outcome")).to_contain_text("Purge: accepted")
    expect(page.locator("#invocation-header")).to_contain_text(f"No invocation {done} is stored")
    assert shop.invocation(done) is None
    assert shop.query(f"SELECT id FROM sys_journal WHERE id = {sql_text(done)}") == []


def test_a_refused_action_shows_the_servers_message(page: Page, shop: Shop) -> None:
    charge = shop.send("Payments/charge", 9)
    shop.wait_status(charge, "backing-off")
    open_page(page, shop, f"invocations/{charge}")
    click_action(page, "purge")
    expected = shop.http.patch(f"{shop.admin_url}/invocations/{charge}/purge")
    assert expected.status_code == 409
    outcome = page.locator("#action-outcome .message.error")
    expect(outcome).to_have_text(f"Purge failed (HTTP 409): {expected.json()['message']}")
    assert shop.invocation(charge)["status"] == "backing-off"  # type: ignore[index]


def test_state_edit_add_delete_and_clear(page: Page, shop: Shop) -> None:
    key = unique("edited")
    shop.call(f"Cart/{key}/add", "apple")
    open_page(page, shop, f"state?service=Cart&key={key}")
    entries = page.locator("#state-entries")
    items = entries.locator('tr[data-name="items"]')
    expect(items.locator("pre.value")).to_contain_text('"apple"')

    items.locator("button.state-edit").click()
    items.locator("textarea.state-value").fill('["edited", "pear"]')
    items.locator("button.state-save").click()
    expect(page.locator("#state-outcome")).to_contain_text("Save items: accepted")
    assert shop.call(f"Cart/{key}/items").json() == ["edited", "pear"]  # the handler sees it
    expect(items.locator("pre.value")).to_contain_text('"edited"')

    page.locator("#state-add").click()
    editor = entries.locator(".editor")
    editor.locator("input.state-name").fill("note")
    editor.locator("select.state-format").select_option("text")
    editor.locator("textarea.state-value").fill("plain words")
    editor.locator("button.state-save").click()
    expect(entries.locator('tr[data-name="note"] pre.value')).to_have_text("plain words")
    state = shop.query(
        "SELECT key, value FROM state WHERE service_name = 'Cart' "
        f"AND service_key = {sql_text(key)} ORDER BY key"
    )
    assert [(r["key"], bytes.fromhex(r["value"])) for r in state] == [
        ("items", b'["edited","pear"]'),
        ("note", b"plain words"),
    ]

    entries.locator('tr[data-name="note"] button.state-delete').click()
    expect(entries.locator('tr[data-name="note"]')).to_have_count(0)
    assert shop.call(f"Cart/{key}/items").json() == ["edited", "pear"]

    page.locator("#state-clear").click()
    expect(entries).to_contain_text("This key has no state.")
    assert shop.call(f"Cart/{key}/items").json() == []


def test_state_editor_refuses_bad_json_and_queues_behind_a_locked_key(
    page: Page, shop: Shop
) -> None:
    key = unique("locked")
    shop.call(f"Cart/{key}/add", "apple")
    open_page(page, shop, f"state?service=Cart&key={key}")
    items = page.locator('#state-entries tr[data-name="items"]')
    items.locator("button.state-edit").click()
    items.locator("textarea.state-value").fill("[not json")
    items.locator("button.state-save").click()
    expect(items.locator(".message.error")).to_contain_text("The value is not valid JSON")

    holder = shop.send(f"Cart/{key}/hold")
    shop.wait_status(holder, "running", "suspended")
    expect(page.locator("#state-lock")).to_contain_text(holder)
    items.locator("textarea.state-value").fill('["late"]')
    items.locator("button.state-save").click()
    # Locked: the change is accepted and waits in the key's inbox, as on restate-server.
    outcome = page.locator("#state-outcome .message.ok")
    expect(outcome).to_contain_text("Save items: accepted (HTTP 202)")
    expect(outcome).to_contain_text(f"it waits for {holder} to end")
    assert shop.call(f"Cart/{key}/items").json() == ["apple"]  # a shared read: not yet
    shop.http.patch(f"{shop.admin_url}/invocations/{holder}/kill").raise_for_status()
    assert shop.call(f"Cart/{key}/items").json() == ["late"]


def test_invoke_form_calls_and_sends(page: Page, shop: Shop) -> None:
    name = unique("zoe")
    open_page(page, shop, "services")
    page.locator('#services [data-service="Greeter"] tr[data-handler="greet"] button').click()
    expect(page.locator("#invoke-service")).to_have_value("Greeter")
    expect(page.locator("#invoke-handler")).to_have_value("greet")
    expect(page.locator("#invoke-key")).to_be_hidden()
    page.locator("#invoke-body").fill(f'"{name}"')
    page.locator("#invoke-submit").click()
    result = page.locator("#invoke-result")
    expect(result).to_contain_text("HTTP 200 from the ingress")
    expect(result.locator("pre.value")).to_have_text(f'"Hello, {name}!"')
    called = result.locator("a").inner_text()
    assert shop.invocation(called)["target"] == "Greeter/greet"  # type: ignore[index]

    key = unique("sent")
    page.locator("#invoke-service").select_option("Cart")
    page.locator("#invoke-handler").select_option("add")
    page.locator("#invoke-key").fill(key)
    page.locator("#invoke-body").fill('"kiwi"')
    page.get_by_label("send (start it, answer at once)").check()
    page.locator("#invoke-submit").click()
    expect(result).to_contain_text("HTTP 202 from the ingress")
    sent = result.locator("a").inner_text()
    row = shop.wait_status(sent, "completed")
    assert row["target"] == f"Cart/{key}/add"
    assert shop.call(f"Cart/{key}/items").json() == ["kiwi"]

    page.locator("#invoke-body").fill("{broken")
    page.locator("#invoke-submit").click()
    expect(result.locator(".message.error")).to_contain_text("The body is not valid JSON")
