"""perdure's own server as a child process: `perdure server`, or `perdure dev APP` (the app's
services hosted in the server's process), on free loopback ports, stopped by its pid."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

import httpx
import pytest

from .ports import IngressAdminPorts, free_port
from .process import ManagedProcess, start_until_ready
from .stores import store_args


def perdure_cli(hint: str = "") -> str:
    """The installed `perdure` command; fails the test (with `hint` added) when it is missing."""
    cli = shutil.which("perdure") or str(Path(sys.executable).parent / "perdure")
    if not os.access(cli, os.X_OK):
        pytest.fail(
            f"the `perdure` command is not installed; run `pip install -e '.[dev]'`{hint}",
            pytrace=False,
        )
    return cli


def servers_healthy(client: httpx.Client, ingress_url: str, admin_url: str) -> bool:
    """Ingress `/restate/health` and admin `/health` both answer 200."""
    try:
        return (
            client.get(f"{ingress_url}/restate/health").status_code == 200
            and client.get(f"{admin_url}/health").status_code == 200
        )
    except httpx.TransportError:
        return False


class PerdureServer(IngressAdminPorts):
    """`perdure server` (or, given `app`, `perdure dev APP`) on 127.0.0.1.

    Its environment: the caller's without any `RESTATE_*`, then `env`. `data_dir`: fixed (a
    later `start` resumes from it), or None for a fresh one per start attempt. The store is
    SQLite in it, or with PERDURE_TEST_STORE=postgres a PostgreSQL database standing for it
    (tests/support/stores.py). One log file,
    appended to at every start. Same surface as RestateServer (urls, process, start, stop)."""

    def __init__(
        self,
        workdir: Path,
        env: Mapping[str, str] | None = None,
        *,
        app: Path | None = None,
        data_dir: Path | None = None,
        cwd: Path | None = None,
        cli_hint: str = "",
        prefix: Sequence[str] = (),
    ) -> None:
        self.workdir = workdir
        self.prefix = list(prefix)  # runs the command through this (e.g. nsenter ... --)
        self.extra_env = dict(env or {})
        self.app = app
        self.data_dir = data_dir
        self.cwd = cwd or workdir
        self.cli_hint = cli_hint
        self.name = "perdure dev" if app else "perdure server"
        self.log_path = workdir / f"{self.name.replace(' ', '-')}.log"
        self.process: ManagedProcess | None = None
        self._spawned = 0

    @property
    def pid(self) -> int:
        assert self.process is not None and self.process.pid is not None
        return self.process.pid

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        cli = perdure_cli(self.cli_hint)
        with httpx.Client(timeout=2.0) as client:
            self.process = start_until_ready(
                lambda: self._spawn(cli),
                lambda: servers_healthy(client, self.ingress_url, self.admin_url),
                what=self.name,
            )

    def _spawn(self, cli: str) -> ManagedProcess:
        self._spawned += 1
        self.ingress_port, self.admin_port = free_port(), free_port()
        data_dir = self.data_dir or self.workdir / f"data-{self._spawned}"
        command = ["dev", str(self.app)] if self.app else ["server"]
        argv = [
            *self.prefix, cli, *command,
            "--data-dir", str(data_dir),
            "--ingress-port", str(self.ingress_port),
            "--admin-port", str(self.admin_port),
            "--host", "127.0.0.1",
            *store_args(data_dir),  # PERDURE_TEST_STORE=postgres: a database per data dir
        ]  # fmt: skip
        env = {k: v for k, v in os.environ.items() if not k.startswith("RESTATE_")}
        self.process = ManagedProcess(
            self.name,
            argv,
            env={**env, **self.extra_env, "PYTHONUNBUFFERED": "1"},
            cwd=self.cwd,
            log_path=self.log_path,
        )
        self.process.start()
        return self.process

    def log_text(self) -> str:
        """Everything every start of it logged."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
