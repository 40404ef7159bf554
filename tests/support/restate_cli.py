"""The official `restate` CLI (npm @restatedev/restate, installed by scripts/install-interop)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from .netns import loopback_only_problem
from .restate_server import INSTALL_COMMAND, npm_cache

CLI_VERSION = "1.7.12"
_BINARY = "node_modules/@restatedev/restate-linux-x64/bin/restate"


def cli_binary() -> Path:
    binary = npm_cache() / _BINARY
    if not os.access(binary, os.X_OK):
        pytest.fail(
            f"the restate CLI {CLI_VERSION} is not at {binary}; install it with "
            f"`{INSTALL_COMMAND}` (scripts/test does)",
            pytrace=False,
        )
    return binary


def run_cli(args: list[str], admin_url: str, home: Path, timeout: float = 60.0) -> str:
    """Run `restate ARGS` against `admin_url`; its stdout and stderr together.

    Only inside a loopback-only namespace (it is Restate's binary: it must not reach the
    network), with a fresh HOME (no config or environment of the caller's) and plain
    output (no colours, fixed width, ISO timestamps), answering yes to confirmations."""
    problem = loopback_only_problem()
    if problem:
        pytest.fail(problem.replace("restate-server", "the restate CLI"), pytrace=False)
    home.mkdir(parents=True, exist_ok=True)
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "RESTATE_ADMIN_URL": admin_url,
        "NO_COLOR": "1",
        "CLICOLOR": "0",
        "TERM": "dumb",
        "COLUMNS": "200",
    }
    done = subprocess.run(
        [str(cli_binary()), "--yes", "--time-format", "iso8601", *args],
        env=env,
        cwd=home,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        timeout=timeout,
        check=False,
    )
    return (done.stdout + done.stderr).decode("utf-8", "replace")
