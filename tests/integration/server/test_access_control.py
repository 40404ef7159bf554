"""Optional bearer tokens (issue 8): the admin API and the ingress each take their own;
off by default; health probes stay open; the console loads and then asks; perdure's CLI
sends PERDURE_ADMIN_TOKEN. A real `perdure dev` on 127.0.0.1."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from perdure.server.auth import warn_if_open
from tests.support.perdure import PerdureServer, perdure_cli

ADMIN_TOKEN = "admin-secret-1"
INGRESS_TOKEN = "ingress-secret-2"

APP = """
import perdure

greeter = perdure.Service("Greeter")


@greeter.handler()
async def greet(ctx: perdure.Context, name: str) -> str:
    return f"hi {name}"


app = perdure.app([greeter])
"""


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PerdureServer]:
    workdir = tmp_path_factory.mktemp("guarded")
    (workdir / "app.py").write_text(APP)
    token_file = workdir / "ingress-token"
    token_file.write_text(INGRESS_TOKEN + "\n")
    server = PerdureServer(
        workdir,
        {"PERDURE_ADMIN_TOKEN": ADMIN_TOKEN, "PERDURE_INGRESS_TOKEN_FILE": str(token_file)},
        app=workdir / "app.py",
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


def test_the_ingress_needs_its_own_token(guarded: PerdureServer) -> None:
    url = f"{guarded.ingress_url}/Greeter/greet"
    missing = httpx.post(url, json="Ann")
    assert missing.status_code == 401
    assert missing.headers["www-authenticate"] == "Bearer"
    assert "Authorization: Bearer" in missing.json()["message"]
    wrong = httpx.post(url, json="Ann", headers=bearer(ADMIN_TOKEN))  # the other token
    assert wrong.status_code == 401 and "not valid" in wrong.json()["message"]
    ok = httpx.post(url, json="Ann", headers=bearer(INGRESS_TOKEN))
    assert ok.status_code == 200 and ok.json() == "hi Ann"
    assert httpx.get(f"{guarded.ingress_url}/restate/health").status_code == 200


def test_the_admin_api_needs_its_token_or_the_console_cookie(guarded: PerdureServer) -> None:
    admin = guarded.admin_url
    assert httpx.get(f"{admin}/services").status_code == 401
    assert httpx.get(f"{admin}/services", headers=bearer(INGRESS_TOKEN)).status_code == 401
    services = httpx.get(f"{admin}/services", headers=bearer(ADMIN_TOKEN))
    assert services.status_code == 200
    assert [s["name"] for s in services.json()["services"]] == ["Greeter"]
    cookie = {"cookie": f"perdure-admin-token={ADMIN_TOKEN}"}
    query = {"query": "SELECT name FROM sys_service"}
    as_json = {**cookie, "accept": "application/json"}
    assert httpx.post(f"{admin}/query", json=query, headers=as_json).json() == {
        "rows": [{"name": "Greeter"}]
    }
    assert httpx.post(f"{admin}/query", json=query).status_code == 401
    assert httpx.get(f"{admin}/health").status_code == 200
    # The console's pages load and then ask; its proxy to the ingress needs the token and
    # then adds the ingress's own.
    assert httpx.get(f"{admin}/ui/").status_code == 200
    invoke = f"{admin}/ui/api/invoke/Greeter/greet"
    assert httpx.post(invoke, json="Bo").status_code == 401
    proxied = httpx.post(invoke, json="Bo", headers=cookie)
    assert proxied.status_code == 200 and proxied.json() == "hi Bo"


def test_the_cli_sends_the_admin_token(guarded: PerdureServer) -> None:
    cli = perdure_cli()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PERDURE_", "RESTATE_"))}
    argv = [cli, "services", "list", "--admin-url", guarded.admin_url]
    refused = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    assert refused.returncode == 1 and "HTTP 401" in refused.stderr
    allowed = subprocess.run(
        argv,
        env={**env, "PERDURE_ADMIN_TOKEN": ADMIN_TOKEN},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert allowed.returncode == 0, allowed.stderr
    assert "Greeter" in allowed.stdout


def test_an_empty_token_file_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.write_text("\n")
    done = subprocess.run(
        [sys.executable, "-m", "perdure.cli.main", "server", "--admin-token-file", str(empty)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
    )
    assert done.returncode == 2
    assert "--admin-token-file" in done.stderr and "is empty" in done.stderr


def test_an_open_admin_api_beyond_loopback_is_warned_about(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level(logging.WARNING, logger="perdure.server.auth"):
        warn_if_open("127.0.0.1", None)
        warn_if_open("0.0.0.0", "a-token")
        assert caplog.records == []
        warn_if_open("0.0.0.0", None)
    [record] = caplog.records
    assert "without a token" in record.getMessage()
