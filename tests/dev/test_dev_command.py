"""`perdure dev` beyond crashes: remote deployments listed next to the app, what it prints,
what it refuses."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.perdure import perdure_cli
from tests.support.polling import eventually_sync
from tests.support.ports import free_port, port_accepts
from tests.support.process import ManagedProcess

from .harness import APPS, Dev


@pytest.fixture
def remote(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    process = ManagedProcess(
        "perdure serve (remote)",
        [perdure_cli(), "serve", str(APPS / "remote_greeter.py"), "--port", str(port)],
        env={"PATH": "/usr/bin:/bin", "PYTHONUNBUFFERED": "1"},
        cwd=tmp_path,
        log_path=tmp_path / "remote.log",
    )
    process.start()
    try:
        eventually_sync(
            lambda: port_accepts(port) or process.exit_code() is not None, what="the remote"
        )
        assert process.exit_code() is None, process.log_text()
        yield f"http://127.0.0.1:{port}"
    finally:
        process.stop()


def test_registers_the_remote_deployments_the_app_lists(tmp_path: Path, remote: str) -> None:
    dev = Dev(APPS / "with_remote.py", tmp_path, {"DEV_TEST_REMOTE_URI": remote})
    dev.start()
    try:
        with httpx.Client(timeout=30.0) as http:

            def registered() -> list[str] | None:
                found = http.get(f"{dev.admin_url}/deployments").json()["deployments"]
                uris = sorted(d["uri"] for d in found)
                return uris if len(uris) == 2 else None

            uris = eventually_sync(registered, what="the remote deployment to be registered")
            # A bare authority is shown with its root path, as restate prints it.
            assert uris == sorted([f"{remote}/", f"embedded://localhost{APPS / 'with_remote.py'}"])
            answer = http.post(f"{dev.ingress_url}/Relay/greet", json="ann")
            assert (answer.status_code, answer.json()) == (200, "relayed hello ann"), answer.text
        log = dev.log()
        for shown in ("ingress   " + dev.ingress_url, "admin     " + dev.admin_url, remote):
            assert shown in log, log
    finally:
        dev.stop()


def test_refuses_an_app_not_made_with_perdure_app(tmp_path: Path) -> None:
    app = tmp_path / "plain.py"
    app.write_text("async def app(scope, receive, send):\n    pass\n")
    done = subprocess.run(
        [perdure_cli(), "dev", str(app), "--data-dir", str(tmp_path / "data")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "perdure.app(...)" in done.stderr
    assert not (tmp_path / "data").exists()  # refused before anything was stored


def test_help_documents_the_remote_deployments_spelling() -> None:
    done = subprocess.run(
        [perdure_cli(), "dev", "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0
    for option in ("--data-dir", "--ingress-port", "--admin-port", "--host", "deployments = ["):
        assert option in done.stdout, done.stdout
