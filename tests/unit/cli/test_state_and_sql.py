"""`perdure state get|edit|clear` and `perdure sql` against `perdure dev` (a real server), and
the server's compare-and-set of `POST /services/{s}/state` with restate's `version`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner, Result

from perdure.cli.main import cli
from perdure.server.engine import state_version
from tests.support.perdure import PerdureServer

APP = Path(__file__).parent / "apps" / "tally_app.py"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PerdureServer]:
    started = PerdureServer(tmp_path_factory.mktemp("state-cli"), app=APP)
    started.start()
    try:
        yield started
    finally:
        started.stop()


def run(server: PerdureServer, *args: str) -> Result:
    result = CliRunner().invoke(cli, [*args, "--admin-url", server.admin_url])
    return result


def add(server: PerdureServer, key: str, delta: int) -> int:
    answer = httpx.post(f"{server.ingress_url}/Tally/{key}/add", json=delta, timeout=30)
    assert answer.status_code == 200, answer.text
    return int(answer.json())


def test_get_edit_clear(server: PerdureServer) -> None:
    add(server, "ann", 3)
    got = run(server, "state", "get", "Tally", "ann")
    assert got.exit_code == 0, got.output
    assert "count" in got.output and "3" in got.output
    as_json = run(server, "state", "get", "Tally", "ann", "--json")
    assert json.loads(as_json.output) == {"count": 3}

    edited = run(server, "state", "edit", "Tally", "ann", "--value", '{"count": 40}')
    assert edited.exit_code == 0, edited.output
    assert "replaced" in edited.output
    assert add(server, "ann", 2) == 42  # the handler reads the edited state

    unchanged = run(server, "state", "edit", "Tally", "ann", "--value", '{"count": 42}')
    assert "No change" in unchanged.output

    cleared = run(server, "state", "clear", "Tally", "ann", "--force")
    assert cleared.exit_code == 0, cleared.output
    assert json.loads(run(server, "state", "get", "Tally", "ann", "--json").output) == {}
    assert add(server, "ann", 1) == 1


def test_edit_opens_the_editor(server: PerdureServer, monkeypatch: pytest.MonkeyPatch) -> None:
    add(server, "bob", 5)
    seen: list[str] = []

    def editor(text: str, extension: str) -> str:
        seen.append(text)
        return text.replace("5", "7")

    monkeypatch.setattr("click.edit", editor)
    result = run(server, "state", "edit", "Tally", "bob")
    assert result.exit_code == 0, result.output
    assert json.loads(seen[0]) == {"count": 5}
    assert add(server, "bob", 0) == 7


def test_a_stale_version_is_dropped(server: PerdureServer) -> None:
    """As restate-server: 202 either way; applied only with the current state's version."""
    add(server, "cat", 1)
    url = f"{server.admin_url}/services/Tally/state"
    stale = state_version([(b"count", b"999")])
    body = {"object_key": "cat", "new_state": {"count": list(b"100")}, "version": stale}
    assert httpx.post(url, json=body).status_code == 202
    assert add(server, "cat", 0) == 1
    body["version"] = state_version([(b"count", b"1")])
    assert httpx.post(url, json=body).status_code == 202
    assert add(server, "cat", 0) == 100


def test_state_version_is_restates() -> None:
    # The version restate-server 1.7.12 accepted for the state {"stage": "\"expired\""}.
    assert (
        state_version([(b"stage", b'"expired"')]) == "KozxAp53kvrlfktCza5L1beoHmiiZ8ui9BqQBZvczqQ"
    )


def test_sql_table_and_json(server: PerdureServer) -> None:
    add(server, "dan", 1)
    query = "SELECT target, status FROM sys_invocation WHERE target = 'Tally/dan/add'"
    table = run(server, "sql", query)
    assert table.exit_code == 0, table.output
    assert "TARGET" in table.output and "Tally/dan/add" in table.output
    assert "1 rows." in table.output
    rows = json.loads(run(server, "sql", query, "--json").output)
    assert rows == [{"target": "Tally/dan/add", "status": "completed"}]
    dialect = run(server, "sql", "SELECT COUNT(*) AS n FROM sys_invocation WHERE status == 'x'")
    assert dialect.exit_code == 0 and "0" in dialect.output
    refused = run(server, "sql", "DELETE FROM state")
    assert refused.exit_code == 1 and "DML not supported" in refused.output
