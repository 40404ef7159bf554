"""The admin commands against a stub admin API: help, arguments, version negotiation, errors.

The stub is a real HTTP server on loopback (a thread) that answers from a table and
records what it was asked, so these tests check the exact requests the CLI sends.
"""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result

from perdure.cli._output import format_table, format_time
from perdure.cli.invocations import list_query, sql_literal
from perdure.cli.main import cli

ADMIN_GROUPS = ("deployments", "services", "invocations")


@dataclass
class Stub:
    """Answers `(method, path)` from `routes`; anything else is a 404 admin error."""

    url: str = ""
    routes: dict[tuple[str, str], tuple[int, object]] = field(default_factory=dict)
    requests: list[tuple[str, str, bytes]] = field(default_factory=list)

    def answer(self, method: str, path: str, status: int, body: object) -> None:
        self.routes[(method, path)] = (status, body)


@pytest.fixture
def stub() -> Iterator[Stub]:
    state = Stub()

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            state.requests.append((self.command, self.path, body))
            status, payload = state.routes.get(
                (self.command, self.path),
                (404, {"message": f"no route {self.path}", "restate_code": None}),
            )
            data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("content-type", "application/json")
            self.send_header("content-length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass  # keep the test output clean

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def versioned(stub: Stub, low: int = 2, high: int = 4) -> None:
    stub.answer(
        "GET",
        "/version",
        200,
        {"version": "1.7.12", "min_admin_api_version": low, "max_admin_api_version": high},
    )


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner(env=env).invoke(cli, list(args))


def _walk(command: click.Command, path: list[str]) -> Iterator[tuple[list[str], click.Command]]:
    yield path, command
    if isinstance(command, click.Group):
        for name, sub in command.commands.items():
            yield from _walk(sub, [*path, name])


# ---- help and arguments -------------------------------------------------------------


@pytest.mark.parametrize("group", ADMIN_GROUPS)
def test_every_admin_command_has_help(group: str) -> None:
    top = cli.get_command(click.Context(cli), group)
    assert isinstance(top, click.Group)
    commands = list(_walk(top, [group]))
    assert len(commands) > 2
    for path, command in commands:
        assert command.help, f"perdure {' '.join(path)} has no help text"
        result = run(*path, "--help")
        assert result.exit_code == 0, result.output
        first_line = command.help.split("\n")[0]
        assert first_line in " ".join(result.output.split())  # help text wraps
        if not isinstance(command, click.Group):
            assert "--admin-url" in result.output
            assert "--json" in result.output


def test_the_groups_list_their_commands() -> None:
    assert {"register", "list", "describe", "remove"} <= set(
        run("deployments", "--help").output.split()
    )
    assert {"list", "describe"} <= set(run("services", "--help").output.split())
    words = set(run("invocations", "--help").output.split())
    assert {"list", "describe", "cancel", "kill", "purge"} <= words


def test_missing_argument_is_a_usage_error() -> None:
    for args in (
        ["deployments", "register"],
        ["deployments", "describe"],
        ["services", "describe"],
        ["invocations", "describe"],
        ["invocations", "cancel"],
    ):
        result = run(*args)
        assert result.exit_code == 2, args
        assert "Missing argument" in result.output


def test_bad_admin_url_is_a_usage_error() -> None:
    result = run("services", "list", "--admin-url", "localhost:9070")
    assert result.exit_code == 2
    assert "is not an http:// or https:// URL" in result.output


def test_bad_header_is_a_usage_error(stub: Stub) -> None:
    result = run(
        "deployments", "register", "http://x", "--header", "novalue", "--admin-url", stub.url
    )
    assert result.exit_code == 2
    assert "'novalue' is not NAME=VALUE" in result.output
    assert stub.requests == []


def test_unknown_status_is_a_usage_error() -> None:
    result = run("invocations", "list", "--status", "sleeping")
    assert result.exit_code == 2
    assert "'sleeping' is not one of" in result.output


def test_remove_without_force_is_refused_before_any_call(stub: Stub) -> None:
    result = run("deployments", "remove", "dp_1x", "--admin-url", stub.url)
    assert result.exit_code == 2
    assert "pass --force" in result.output
    assert stub.requests == []


# ---- connecting ---------------------------------------------------------------------


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_unreachable_server_is_one_line_naming_the_url() -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    result = run("deployments", "list", "--admin-url", url)
    assert result.exit_code == 1
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(f"Error: cannot reach the admin API at {url}")


def test_admin_url_from_the_environment(stub: Stub) -> None:
    versioned(stub)
    stub.answer("GET", "/v4/services", 200, {"services": []})
    dead = f"http://127.0.0.1:{_closed_port()}"
    # RESTATE_ADMIN_URL is honoured like the restate CLI does ...
    result = run("services", "list", env={"RESTATE_ADMIN_URL": stub.url})
    assert result.exit_code == 0, result.output
    assert result.output == "No services registered.\n"
    # ... but PERDURE_ADMIN_URL wins over it, and --admin-url over both.
    result = run("services", "list", env={"PERDURE_ADMIN_URL": dead, "RESTATE_ADMIN_URL": stub.url})
    assert result.exit_code == 1
    assert dead in result.stderr
    result = run("services", "list", "--admin-url", stub.url, env={"PERDURE_ADMIN_URL": dead})
    assert result.exit_code == 0


def test_default_admin_url_is_shown_in_help() -> None:
    assert "http://127.0.0.1:9070" in run("services", "list", "--help").output


# ---- version negotiation ------------------------------------------------------------


@pytest.mark.parametrize(("low", "high", "prefix"), [(2, 4, "/v4"), (1, 3, "/v3"), (2, 9, "/v4")])
def test_highest_common_version_prefixes_every_call(
    stub: Stub, low: int, high: int, prefix: str
) -> None:
    versioned(stub, low, high)
    stub.answer("GET", f"{prefix}/deployments", 200, {"deployments": []})
    result = run("deployments", "list", "--admin-url", stub.url)
    assert result.exit_code == 0, result.output
    assert result.output == "No deployments registered.\n"
    assert [(m, p) for m, p, _ in stub.requests] == [
        ("GET", "/version"),
        ("GET", f"{prefix}/deployments"),
    ]


def test_server_without_version_endpoint_gets_unversioned_paths(stub: Stub) -> None:
    stub.answer("GET", "/services", 200, {"services": []})
    result = run("services", "list", "--admin-url", stub.url)
    assert result.exit_code == 0, result.output
    assert [p for _, p, _ in stub.requests] == ["/version", "/services"]


def test_no_common_version_is_an_error(stub: Stub) -> None:
    versioned(stub, 5, 7)
    result = run("services", "list", "--admin-url", stub.url)
    assert result.exit_code == 1
    assert "speaks versions V5..V7; this CLI speaks V2..V4" in result.stderr
    assert len(stub.requests) == 1


# ---- HTTP errors --------------------------------------------------------------------


def test_http_error_shows_the_servers_message(stub: Stub) -> None:
    versioned(stub)
    stub.answer(
        "POST",
        "/v4/deployments",
        500,
        {"message": "cannot reach http://x/discover", "restate_code": "META0003"},
    )
    result = run("deployments", "register", "http://x", "--admin-url", stub.url)
    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr.startswith("Error: cannot reach http://x/discover [META0003] (HTTP 500")
    assert len(result.stderr.splitlines()) == 1


def test_http_error_without_json_body(stub: Stub) -> None:
    versioned(stub)
    stub.answer("GET", "/v4/services/Foo", 502, b"upstream down\nmore")
    result = run("services", "describe", "Foo", "--admin-url", stub.url)
    assert result.exit_code == 1
    assert result.stderr.startswith("Error: upstream down (HTTP 502 from GET ")


# ---- requests the commands send -----------------------------------------------------


def test_register_sends_uri_flags_and_headers(stub: Stub) -> None:
    versioned(stub)
    answer = {"id": "dp_1abc", "services": [{"name": "Greeter", "ty": "Service", "revision": 1}]}
    stub.answer("POST", "/v4/deployments", 201, answer)
    result = run(
        "deployments",
        "register",
        "http://127.0.0.1:9080",
        "--use-http-11",
        "--force",
        "--header",
        "x-token=a=b",
        "--header",
        "x-other=1",
        "--admin-url",
        stub.url,
    )
    assert result.exit_code == 0, result.output
    sent = json.loads(stub.requests[-1][2])
    assert sent == {
        "uri": "http://127.0.0.1:9080",
        "use_http_11": True,
        "force": True,
        "additional_headers": {"x-token": "a=b", "x-other": "1"},
    }
    assert (
        result.output.splitlines()[0] == "Registered: deployment dp_1abc at http://127.0.0.1:9080"
    )
    assert "Greeter" in result.output


def test_register_defaults_send_force_false(stub: Stub) -> None:
    # V2 servers default `force` to true; the CLI always says what it means.
    versioned(stub, 2, 2)
    stub.answer("POST", "/v2/deployments", 200, {"id": "dp_1abc", "services": []})
    result = run("deployments", "register", "http://h:1", "--admin-url", stub.url)
    assert result.exit_code == 0, result.output
    assert json.loads(stub.requests[-1][2]) == {
        "uri": "http://h:1",
        "use_http_11": False,
        "force": False,
    }
    assert result.output.startswith("Already registered (unchanged): deployment dp_1abc")


def test_ids_are_escaped_in_paths(stub: Stub) -> None:
    versioned(stub)
    result = run("deployments", "describe", "a/b?c", "--admin-url", stub.url)
    assert result.exit_code == 1
    assert stub.requests[-1][1] == "/v4/deployments/a%2Fb%3Fc"


def test_invocations_list_query(stub: Stub) -> None:
    versioned(stub)
    rows = [
        {
            "id": "inv_1a",
            "target": "Greeter/greet",
            "status": "completed",
            "completion_result": "failure",
            "completion_failure": "[409] cancelled",
            "created_at": "2026-01-02T03:04:05.678Z",
        },
        {"id": "inv_1b", "target": "Obj/k/h", "status": "backing-off", "retry_count": 3},
    ]
    stub.answer("POST", "/v4/query", 200, {"rows": rows})
    result = run(
        "invocations",
        "list",
        "--status",
        "completed",
        "--status",
        "backing-off",
        "--service",
        "O'Brien",
        "--limit",
        "7",
        "--admin-url",
        stub.url,
    )
    assert result.exit_code == 0, result.output
    query = json.loads(stub.requests[-1][2])["query"]
    assert "FROM sys_invocation WHERE status IN ('completed', 'backing-off')" in query
    assert "target_service_name = 'O''Brien'" in query
    assert query.endswith("ORDER BY created_at DESC LIMIT 7")
    lines = result.output.splitlines()
    assert lines[0].split() == ["ID", "TARGET", "STATUS", "CREATED", "MODIFIED", "FAILURE"]
    assert "completed (failure)" in lines[1]
    assert "2026-01-02 03:04:05 UTC" in lines[1]
    assert "[409] cancelled" in lines[1]
    assert "backing-off (retry 3)" in lines[2]
    json_result = run("invocations", "list", "--json", "--admin-url", stub.url)
    assert json.loads(json_result.output) == rows


def test_describe_unknown_invocation(stub: Stub) -> None:
    versioned(stub)
    stub.answer("POST", "/v4/query", 200, {"rows": []})
    result = run("invocations", "describe", "inv_1nope", "--admin-url", stub.url)
    assert result.exit_code == 1
    assert "invocation inv_1nope not found" in result.stderr


@pytest.mark.parametrize("operation", ["cancel", "kill", "purge", "pause", "resume"])
def test_actions_patch_the_invocation(stub: Stub, operation: str) -> None:
    versioned(stub)
    stub.answer("PATCH", f"/v4/invocations/inv_1a/{operation}", 200, b"")
    result = run("invocations", operation, "inv_1a", "--admin-url", stub.url)
    assert result.exit_code == 0, result.output
    assert stub.requests[-1][:2] == ("PATCH", f"/v4/invocations/inv_1a/{operation}")
    assert result.output.startswith("inv_1a: ")


def test_action_on_several_ids_reports_each_and_fails_if_one_failed(stub: Stub) -> None:
    versioned(stub)
    stub.answer("PATCH", "/v4/invocations/inv_1a/kill", 200, b"")
    stub.answer(
        "PATCH",
        "/v4/invocations/inv_1b/kill",
        409,
        {"message": "invocation inv_1b already completed", "restate_code": None},
    )
    stub.answer("PATCH", "/v4/invocations/inv_1c/kill", 200, b"")
    result = run("invocations", "kill", "inv_1a", "inv_1b", "inv_1c", "--admin-url", stub.url)
    assert result.exit_code == 1
    assert result.stdout == "inv_1a: killed\ninv_1c: killed\n"
    assert "inv_1b: invocation inv_1b already completed (HTTP 409" in result.stderr
    as_json = run("invocations", "kill", "inv_1a", "inv_1b", "--json", "--admin-url", stub.url)
    assert as_json.exit_code == 1
    assert [(r["id"], r["ok"]) for r in json.loads(as_json.stdout)] == [
        ("inv_1a", True),
        ("inv_1b", False),
    ]


def test_cancel_of_running_invocation_says_it_was_delivered(stub: Stub) -> None:
    versioned(stub)
    stub.answer("PATCH", "/v4/invocations/inv_1a/cancel", 202, b"")
    result = run("invocations", "cancel", "inv_1a", "--admin-url", stub.url)
    assert result.output == "inv_1a: cancellation delivered\n"


# ---- formatting ---------------------------------------------------------------------


def test_table_columns_are_padded_to_the_widest_cell() -> None:
    table = format_table(["id", "name"], [["a", None], ["long-id", True], ["b", "x\ny"]])
    assert table.splitlines() == ["ID       NAME", "a", "long-id  yes", "b        x y"]


def test_long_cells_are_cut() -> None:
    table = format_table(["text"], [["x" * 100]])
    assert len(table.splitlines()[1]) == 60
    assert table.endswith("…")


def test_format_time() -> None:
    assert format_time(0) == "1970-01-01 00:00:00 UTC"
    assert format_time("2026-01-02T03:04:05.678Z") == "2026-01-02 03:04:05 UTC"
    assert format_time("2026-01-02T03:04:05.678") == "2026-01-02 03:04:05 UTC"
    assert format_time("soon") == "soon"
    assert format_time(None) is None


def test_sql_literal_doubles_quotes() -> None:
    assert sql_literal("it's") == "'it''s'"
    query = list_query((), None, "k'1", "h", 5)
    assert "target_service_key = 'k''1' AND target_handler_name = 'h'" in query
