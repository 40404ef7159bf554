"""The README's quickstart, run literally so it cannot rot.

The fenced blocks between `<!-- quickstart:start -->` and `<!-- quickstart:end -->` hold the
set-up commands (`pip install …`, then `perdure dev examples/signup.py`) and the curl lines that
drive the sign-up example. The install line is not run (the suite runs from an install
already: `perdure` must be on PATH); the `perdure dev` line is run as written, in the
background, from a fresh folder that has the repository's `examples/`; the other lines run in
order in bash, as a reader would type them. Like a reader, the test repeats the line that
shows the sign-up's stage until it says "waiting-for-click" before going on.

The lines use the default ports (8080, 9070); under `scripts/test` (a fresh network namespace)
they are free. Elsewhere, if they are taken, the test skips and says so.
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.polling import eventually_sync
from tests.support.process import ManagedProcess

from .harness import REPO

# Another file can stand in (a draft of the section): PERDURE_README=draft.md.
README = Path(os.environ.get("PERDURE_README", str(REPO / "README.md")))
START, END = "<!-- quickstart:start -->", "<!-- quickstart:end -->"
_FENCE = re.compile(r"^```[^\n]*\n(.*?)^```", re.MULTILINE | re.DOTALL)
WAITING = "waiting-for-click"


def quickstart_lines() -> list[str]:
    text = README.read_text() if README.exists() else ""
    if START not in text or END not in text:
        pytest.skip(f"README.md has no quickstart section yet ({START} … {END})")
    # Every marked section, in order: the set-up commands, then the lines that drive it.
    sections = [part.split(END, 1)[0] for part in text.split(START)[1:]]
    lines = []
    for block in (b for section in sections for b in _FENCE.findall(section)):
        for line in block.splitlines():
            line = line.strip()
            if line.startswith("$ "):
                line = line[2:]
            if line and not line.startswith("#"):
                lines.append(line)
    return lines


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def bash(script: str, cwd: Path, env: dict[str, str]) -> str:
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, f"{script}\nexit {done.returncode}\n{done.stdout}{done.stderr}"
    return done.stdout


@pytest.fixture
def folder(tmp_path: Path) -> Iterator[Path]:
    """A fresh working folder with the repository's examples (and no .perdure data yet)."""
    (tmp_path / "examples").symlink_to(REPO / "examples", target_is_directory=True)
    yield tmp_path


def test_readme_quickstart_completes_the_sign_up(folder: Path) -> None:
    lines = quickstart_lines()
    install = [line for line in lines if line.startswith("pip ")]
    servers = [line for line in lines if line.startswith("perdure dev ")]
    client = [line for line in lines if line not in install and line not in servers]
    assert install, f"no install command in the quickstart: {lines}"
    assert len(servers) == 1, f"expected one `perdure dev` line: {lines}"
    stage = [i for i, line in enumerate(client) if "/stage" in line]
    assert stage and client, f"expected curl lines, one showing the stage: {lines}"
    for port in (8080, 9070):
        if not port_free(port):
            pytest.skip(f"port {port} is taken here; run via scripts/test (a fresh namespace)")

    env = {k: v for k, v in os.environ.items() if not k.startswith("RESTATE_")}
    env["PERDURE_EXAMPLES_DIR"] = str(folder / "world")  # the fake outbox, for this test only
    server = ManagedProcess(
        "perdure dev (README)",
        ["bash", "-c", f"exec {servers[0]}"],
        env={**env, "PYTHONUNBUFFERED": "1"},
        cwd=folder,
        log_path=folder / "perdure-dev.log",
    )
    server.start()
    try:
        eventually_sync(
            lambda: _healthy() or server.exit_code() is not None, what="perdure dev to listen"
        )
        assert server.exit_code() is None, server.log_text()

        before, shown, after = client[: stage[0]], client[stage[0]], client[stage[0] + 1 :]
        bash("\n".join(before), folder, env)
        eventually_sync(
            lambda: WAITING in bash(shown, folder, env), what=f"the stage to be {WAITING!r}"
        )
        output = bash("\n".join(after), folder, env).strip().splitlines()
        assert output, "the quickstart's last lines printed nothing"
        result = json.loads(output[-1])
        assert isinstance(result, str) and result.startswith("user-"), output

        assert server.pid is not None
        os.kill(server.pid, signal.SIGINT)  # Ctrl-C
        assert eventually_sync(server.exit_code, what="perdure dev to stop on Ctrl-C") == 0, (
            server.log_text()
        )
    finally:
        server.stop()


def _healthy() -> bool:
    try:
        return httpx.get("http://127.0.0.1:8080/restate/health", timeout=2.0).status_code == 200
    except httpx.TransportError:
        return False
