"""`perdure.harness`: restate-sdk's `restate.harness`, on perdure's server, no Docker."""

from __future__ import annotations

import subprocess
import sys
from datetime import timedelta

import pytest

import perdure as restate

greeter = restate.Service("Greeter")


@greeter.handler()
async def greet(ctx: restate.Context, name: str) -> str:
    await ctx.sleep(timedelta(milliseconds=5))  # an await that suspends with always_replay
    return await ctx.run_typed("compose", lambda: f"Hello, {name}!")


@greeter.handler()
async def flaky(ctx: restate.Context) -> str:
    raise RuntimeError("always fails")  # retried, unless retries are disabled


counter = restate.VirtualObject("Counter")


@counter.handler()
async def add(ctx: restate.ObjectContext, delta: int) -> int:
    value = (await ctx.get("count", type_hint=int) or 0) + delta
    ctx.set("count", value)
    return value


app = restate.app([greeter, counter])


def test_the_sync_harness_serves_the_app_on_its_ingress() -> None:
    with restate.test_harness(app, always_replay=True) as harness:
        with harness.ingress_client() as client:
            assert client.post("/Greeter/greet", json="Ann").json() == "Hello, Ann!"
            assert client.post("/Counter/k/add", json=2).json() == 2
            assert client.post("/Counter/k/add", json=3).json() == 5
        with harness.admin_client() as admin:
            rows = admin.post(
                "/query",
                json={"query": "SELECT status FROM sys_invocation"},
                headers={"accept": "application/json"},  # Arrow IPC otherwise, as restate
            )
            assert {r["status"] for r in rows.json()["rows"]} == {"completed"}


async def test_create_test_harness_gives_urls_and_a_client() -> None:
    async with restate.create_test_harness(app) as env:
        assert env.ingress_url.startswith("http://127.0.0.1:")
        assert env.admin_api_url.startswith("http://127.0.0.1:")
        assert await env.client.service_call(greet, "Bo") == "Hello, Bo!"
        assert await env.client.object_call(add, "o", 4) == 4
        handle = await env.client.object_send(add, "o", 1)
        assert handle.invocation_id.startswith("inv_")
        json_body = {"content-type": "application/json"}
        raw = await env.client.generic_call("Greeter", "greet", b'"Cy"', headers=json_body)
        assert raw == b'"Hello, Cy!"'


async def test_disable_retries_kills_a_failing_invocation() -> None:
    async with restate.create_test_harness(app, disable_retries=True) as env:
        with pytest.raises(restate.harness.HttpError) as failed:
            await env.client.service_call(flaky, None)
        assert failed.value.status_code == 500, failed.value.body


def test_the_names_resolve_like_restates_without_loading_the_server_at_import() -> None:
    code = (
        "import sys, perdure as restate\n"
        "assert 'perdure.server' not in sys.modules\n"
        "from perdure.harness import RestateTestHarness, TestConfiguration\n"
        "assert restate.harness.test_harness is restate.test_harness\n"
        "assert restate.create_test_harness is restate.harness.create_test_harness\n"
        "assert restate.HarnessEnvironment is restate.harness.HarnessEnvironment\n"
        "assert isinstance(restate.test_harness(restate.app([])), RestateTestHarness)\n"
        "assert TestConfiguration().always_replay is False\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_other_apps_are_refused() -> None:
    with pytest.raises(TypeError, match=r"perdure.app"):
        restate.test_harness(object()).start()  # type: ignore[arg-type]
