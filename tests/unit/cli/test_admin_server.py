"""The admin commands against a real server and official restate-sdk services.

Each server kind gets one server and the services one process per module, started and
stopped by tests/support (by PID, on free loopback ports); the commands run
in-process via CliRunner, and once as a real subprocess of the console entry point.

Kinds: `perdure server` on a temp data dir, and the real restate-server 1.7.12 (marked
`interop`: it runs only inside a loopback-only network namespace, so run it through
`scripts/test`; elsewhere tests/support fails it with a message saying so).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner, Result

from perdure.cli.main import cli
from tests.support.endpoint import Endpoint, hypercorn
from tests.support.perdure import PerdureServer
from tests.support.polling import eventually_sync
from tests.support.ports import free_port
from tests.support.registration import wait_for_ingress_services
from tests.support.restate_server import RestateServer

HERE = Path(__file__).parent
DEADLINE_S = 20.0
SERVICES = ("CliGreeter", "CliTally")


@dataclass(frozen=True)
class Stack:
    kind: str
    admin: str
    ingress: str
    service_url: str


KINDS = [pytest.param("perdure"), pytest.param("restate", marks=pytest.mark.interop)]


@contextmanager
def admin_server(kind: str, folder: Path) -> Iterator[tuple[str, str]]:
    """`perdure server` on a fresh data dir, or the real restate-server (refuses to start
    outside a loopback-only namespace): yields (admin URL, ingress URL)."""
    server = PerdureServer(folder) if kind == "perdure" else RestateServer(folder)
    server.start()
    try:
        yield server.admin_url, server.ingress_url
    finally:
        server.stop()


@pytest.fixture(scope="module")
def service_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """admin_services.py (official restate-sdk 1.2.0) under hypercorn."""
    folder = tmp_path_factory.mktemp("services")
    endpoint = Endpoint(
        "hypercorn admin_services",
        hypercorn("admin_services:app", folder),
        cwd=HERE,
        log_path=folder / "hypercorn.log",
        pythonpath=[HERE],
        health_path="/health",
    )
    endpoint.start()
    try:
        yield endpoint.uri
    finally:
        endpoint.stop()


@pytest.fixture(scope="module", params=KINDS)
def stack(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, service_url: str
) -> Iterator[Stack]:
    kind: str = request.param
    with admin_server(kind, tmp_path_factory.mktemp(kind)) as (admin, ingress):
        yield Stack(kind, admin, ingress, service_url)


def cli_run(stack_or_url: Stack | str, *args: str) -> Result:
    url = stack_or_url.admin if isinstance(stack_or_url, Stack) else stack_or_url
    return CliRunner().invoke(cli, [*args, "--admin-url", url])


def ok(stack: Stack, *args: str) -> str:
    result = cli_run(stack, *args)
    assert result.exit_code == 0, f"perdure {' '.join(args)}: {result.output}"
    return result.stdout


def ok_json(stack: Stack, *args: str) -> Any:
    return json.loads(ok(stack, *args, "--json"))


@pytest.fixture(scope="module")
def registration(stack: Stack) -> Result:
    return cli_run(stack, "deployments", "register", stack.service_url, "--use-http-11")


@pytest.fixture(scope="module")
def deployment_id(stack: Stack, registration: Result) -> str:
    assert registration.exit_code == 0, registration.output
    ids: list[str] = [d["id"] for d in ok_json(stack, "deployments", "list")]
    assert len(ids) == 1
    if stack.kind == "restate":  # its ingress learns new services asynchronously
        wait_for_ingress_services(stack.ingress, list(SERVICES))
    return ids[0]


def fields(output: str) -> dict[str, str]:
    """The `Name:  value` lines a describe command prints before its first blank line."""
    head = output.split("\n\n")[0].splitlines()
    columns = {len(line) - len(line.split(":", 1)[1].lstrip()) for line in head}
    assert len(columns) == 1, f"values not aligned: {head}"
    pairs = [line.split(":", 1) for line in head]
    return {name.strip(): value.strip() for name, value in pairs}


def invoke(stack: Stack, path: str, body: object, *, send: bool = False) -> str:
    """Call (or send to) a handler through the ingress; returns the invocation id."""
    url = f"{stack.ingress}/{path}" + ("/send" if send else "")
    response = httpx.post(url, json=body, timeout=30.0)
    assert response.status_code == (202 if send else 200), response.text
    return response.headers["x-restate-id"]


def status_of(stack: Stack, invocation_id: str) -> dict[str, Any]:
    row: dict[str, Any] = ok_json(stack, "invocations", "describe", invocation_id)["invocation"]
    return row


def wait_for_status(stack: Stack, invocation_id: str, status: str) -> dict[str, Any]:
    seen: dict[str, Any] = {}

    def reached() -> bool:
        seen.update(status_of(stack, invocation_id))
        return seen.get("status") == status

    eventually_sync(
        reached,
        what=f"{invocation_id} to be {status} (last seen {seen.get('status')})",
        within=DEADLINE_S,
    )
    return seen


# ---- deployments and services -------------------------------------------------------


def test_register_prints_the_deployment_and_its_services(
    stack: Stack, registration: Result, deployment_id: str
) -> None:
    lines = registration.stdout.splitlines()
    assert lines[0] == f"Registered: deployment {deployment_id} at {stack.service_url}"
    assert lines[2].split() == ["SERVICE", "TYPE", "REVISION", "HANDLERS"]
    assert lines[3].split() == ["CliGreeter", "Service", "1", "2"]
    assert lines[4].split() == ["CliTally", "VirtualObject", "1", "2"]
    # The same URI again changes nothing and keeps the id.
    again = ok(stack, "deployments", "register", stack.service_url, "--use-http-11")
    assert again.splitlines()[0] == (
        f"Already registered (unchanged): deployment {deployment_id} at {stack.service_url}"
    )
    answer = ok_json(stack, "deployments", "register", stack.service_url, "--use-http-11")
    assert answer["id"] == deployment_id
    assert sorted(s["name"] for s in answer["services"]) == list(SERVICES)


def test_register_unreachable_deployment_shows_the_servers_error(stack: Stack) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    result = cli_run(stack, "deployments", "register", dead, "--use-http-11")
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("Error: ")
    assert f"POST {stack.admin}/v4/deployments)" in result.stderr
    assert dead in result.stderr  # the server's message names what it could not reach


def test_deployments_list_and_describe(stack: Stack, deployment_id: str) -> None:
    table = ok(stack, "deployments", "list").splitlines()
    assert table[0].split() == ["ID", "URI", "PROTOCOL", "HTTP", "SERVICES", "CREATED"]
    row = table[1].split()
    assert row[1].rstrip("/") == stack.service_url  # restate adds a trailing slash
    assert [row[0], *row[2:6]] == [
        deployment_id,
        "RequestResponse",
        "HTTP/1.1",
        "CliGreeter,",
        "CliTally",
    ]
    assert table[1].endswith(" UTC")

    described = ok(stack, "deployments", "describe", deployment_id)
    info = fields(described)
    assert info["ID"] == deployment_id
    assert info["URI"].rstrip("/") == stack.service_url
    assert info["SDK"] == "restate-sdk-python/1.2.0"
    assert info["HTTP version"] == "HTTP/1.1"
    services = described.split("\n\n")[1].splitlines()
    assert [line.split() for line in services] == [
        ["SERVICE", "TYPE", "REVISION", "HANDLERS"],
        ["CliGreeter", "Service", "1", "2"],
        ["CliTally", "VirtualObject", "1", "2"],
    ]
    full = ok_json(stack, "deployments", "describe", deployment_id)
    assert full["id"] == deployment_id
    assert {s["name"]: s["ty"] for s in full["services"]} == {
        "CliGreeter": "Service",
        "CliTally": "VirtualObject",
    }


def test_describe_unknown_deployment(stack: Stack, deployment_id: str) -> None:
    # Well-formed: restate answers 400, not 404, to an id it cannot decode.
    unknown = deployment_id[:-1] + ("1" if deployment_id[-1] == "0" else "0")
    result = cli_run(stack, "deployments", "describe", unknown)
    assert result.exit_code == 1
    assert unknown in result.stderr
    assert "(HTTP 404 from GET" in result.stderr


def test_services_list_and_describe(stack: Stack, deployment_id: str) -> None:
    table = ok(stack, "services", "list").splitlines()
    assert table[0].split() == ["NAME", "TYPE", "REVISION", "PUBLIC", "HANDLERS", "DEPLOYMENT"]
    assert table[1].split() == ["CliGreeter", "Service", "1", "yes", "2", deployment_id]
    assert table[2].split() == ["CliTally", "VirtualObject", "1", "yes", "2", deployment_id]
    assert sorted(s["name"] for s in ok_json(stack, "services", "list")) == list(SERVICES)

    described = ok(stack, "services", "describe", "CliTally")
    info = fields(described)
    assert info["Type"] == "VirtualObject"
    assert info["Deployment"] == deployment_id
    assert info["Retry policy"].endswith("then Pause")
    handlers = described.split("\n\n")[1].splitlines()
    assert handlers[0].split() == ["HANDLER", "TYPE", "PUBLIC", "INPUT", "OUTPUT"]
    assert handlers[1].split()[:3] == ["add", "Exclusive", "yes"]
    assert handlers[2].split()[:3] == ["peek", "Shared", "yes"]
    metadata = ok_json(stack, "services", "describe", "CliGreeter")
    assert metadata["ty"] == "Service"
    assert sorted(h["name"] for h in metadata["handlers"]) == ["greet", "snooze"]


def test_describe_unknown_service(stack: Stack, deployment_id: str) -> None:
    result = cli_run(stack, "services", "describe", "Nope")
    assert result.exit_code == 1
    assert "Nope" in result.stderr and "(HTTP 404 from GET" in result.stderr


# ---- invocations --------------------------------------------------------------------


def test_list_and_describe_a_completed_call(stack: Stack, deployment_id: str) -> None:
    invocation_id = invoke(stack, "CliTally/k-list/add", 5)
    rows = ok_json(stack, "invocations", "list", "--service", "CliTally", "--key", "k-list")
    assert [(r["id"], r["target"], r["status"]) for r in rows] == [
        (invocation_id, "CliTally/k-list/add", "completed")
    ]
    table = ok(stack, "invocations", "list", "--service", "CliTally", "--key", "k-list")
    lines = table.splitlines()
    assert lines[0].split() == ["ID", "TARGET", "STATUS", "CREATED", "MODIFIED"]
    assert lines[1].split()[:4] == [invocation_id, "CliTally/k-list/add", "completed", "(success)"]
    assert ok(stack, "invocations", "list", "--service", "Nobody") == "No invocations.\n"

    described = ok(stack, "invocations", "describe", invocation_id)
    info = fields(described)
    assert info["ID"] == invocation_id
    assert info["Target"] == "CliTally/k-list/add"
    assert info["Status"] == "completed (success)"
    assert info["Deployment"] == deployment_id
    assert info["Invoked by"] == "ingress"
    journal = described.split("Journal:\n")[1].splitlines()
    assert journal[0].split() == ["INDEX", "ENTRY", "NAME", "APPENDED"]
    entries = [line.split("  ")[0:2] for line in journal[1:]]
    assert entries[0][0] == "0"
    assert "Command: Input" in journal[1]
    assert "Command: SetState" in described
    assert "Command: Output" in journal[-1]
    full = ok_json(stack, "invocations", "describe", invocation_id)
    assert full["invocation"]["id"] == invocation_id
    assert [e["index"] for e in full["journal"]] == list(range(len(full["journal"])))
    assert full["journal"][0]["entry_type"] == "Command: Input"


def test_list_filters_by_status_and_limit(stack: Stack, deployment_id: str) -> None:
    for n in range(3):
        invoke(stack, "CliGreeter/greet", f"n{n}")
    rows = ok_json(stack, "invocations", "list", "--service", "CliGreeter", "--status", "completed")
    assert len(rows) >= 3
    assert {r["status"] for r in rows} == {"completed"}
    limited = ok_json(stack, "invocations", "list", "--service", "CliGreeter", "--limit", "2")
    assert len(limited) == 2
    assert ok_json(stack, "invocations", "list", "--status", "paused") == []


def test_cancel_a_sleeping_invocation(stack: Stack, deployment_id: str) -> None:
    invocation_id = invoke(stack, "CliGreeter/snooze", 3600, send=True)
    wait_for_status(stack, invocation_id, "suspended")
    assert "Command: Sleep" in ok(stack, "invocations", "describe", invocation_id)
    suspended = ok_json(stack, "invocations", "list", "--status", "suspended")
    assert invocation_id in [r["id"] for r in suspended]

    assert ok(stack, "invocations", "cancel", invocation_id) == (
        f"{invocation_id}: cancellation delivered\n"
    )
    row = wait_for_status(stack, invocation_id, "completed")
    assert row["completion_result"] == "failure"
    described = ok(stack, "invocations", "describe", invocation_id)
    info = fields(described)
    assert info["Status"] == "completed (failure)"
    assert "cancel" in info["Failure"]
    # A second cancel is refused by the server: its message, exit code 1.
    again = cli_run(stack, "invocations", "cancel", invocation_id)
    assert again.exit_code == 1
    assert "(HTTP 409 from PATCH" in again.stderr


def test_kill_a_sleeping_invocation(stack: Stack, deployment_id: str) -> None:
    invocation_id = invoke(stack, "CliGreeter/snooze", 3600, send=True)
    wait_for_status(stack, invocation_id, "suspended")
    result = ok_json(stack, "invocations", "kill", invocation_id)
    assert result == [{"id": invocation_id, "ok": True, "outcome": "killed"}]
    row = wait_for_status(stack, invocation_id, "completed")
    assert row["completion_result"] == "failure"
    assert "kill" in row["completion_failure"]


def test_purge_a_completed_invocation(stack: Stack, deployment_id: str) -> None:
    running = invoke(stack, "CliGreeter/snooze", 3600, send=True)
    wait_for_status(stack, running, "suspended")
    refused = cli_run(stack, "invocations", "purge", running)
    assert refused.exit_code == 1
    assert "(HTTP 409 from PATCH" in refused.stderr

    done = invoke(stack, "CliGreeter/greet", "purge-me")
    assert ok(stack, "invocations", "purge", done) == f"{done}: purged\n"
    gone = cli_run(stack, "invocations", "describe", done)
    assert gone.exit_code == 1
    assert f"invocation {done} not found" in gone.stderr
    ok(stack, "invocations", "kill", running)  # leave nothing sleeping behind


@pytest.mark.parametrize("kind", KINDS)
def test_remove_a_deployment(kind: str, tmp_path: Path, service_url: str) -> None:
    # Its own server: removing the deployment removes its services too.
    with admin_server(kind, tmp_path) as (admin, _ingress):
        registered = CliRunner().invoke(
            cli,
            ["deployments", "register", service_url, "--use-http-11", "--json"],
            env={"PERDURE_ADMIN_URL": admin},
        )
        assert registered.exit_code == 0, registered.output
        dp = json.loads(registered.stdout)["id"]
        removed = cli_run(admin, "deployments", "remove", dp, "--force")
        assert removed.exit_code == 0, removed.output
        assert removed.stdout == f"Removed deployment {dp}\n"
        assert cli_run(admin, "deployments", "list").stdout == "No deployments registered.\n"
        assert cli_run(admin, "services", "list").stdout == "No services registered.\n"
        again = cli_run(admin, "deployments", "remove", dp, "--force")
        assert again.exit_code == 1
        assert "(HTTP 404 from DELETE" in again.stderr


# ---- the real console script ----------------------------------------------------------


def test_commands_as_a_subprocess(stack: Stack, deployment_id: str) -> None:
    command = [sys.executable, "-m", "perdure.cli.main"]
    env = dict(os.environ, PERDURE_ADMIN_URL=stack.admin)
    listed = subprocess.run(
        [*command, "services", "list"], env=env, capture_output=True, text=True, timeout=60
    )
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.splitlines()[0].split()[0] == "NAME"
    dead = f"http://127.0.0.1:{free_port()}"
    failed = subprocess.run(
        [*command, "invocations", "list", "--admin-url", dead],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert failed.returncode == 1
    assert failed.stdout == ""
    assert failed.stderr.startswith(f"Error: cannot reach the admin API at {dead}")
    assert len(failed.stderr.splitlines()) == 1
