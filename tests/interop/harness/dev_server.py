"""`perdure dev` hosting the services under test in-process (embedded mode): the server and
the endpoint are one process, and no restate-server runs. The scenarios drive its ingress and
admin API exactly as they drive restate-server's."""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Mapping
from pathlib import Path

import httpx
import pytest

from .endpoint import APP_FILE, IDENTITY_KEYS_ENV, SDK_ENV, SERVICES_DIR
from .ports import free_port
from .process import ManagedProcess
from .restate_server import BASE_ENV


def perdure_cli() -> str:
    cli = shutil.which("perdure") or str(Path(sys.executable).parent / "perdure")
    if not os.access(cli, os.X_OK):
        pytest.fail("the `perdure` command is not installed; run `pip install -e '.[dev]'`")
    return cli


class DevServer:
    """Same surface as `RestateServer` (urls, process, start, stop)."""

    def __init__(self, workdir: Path, effects_dir: Path, env: Mapping[str, str]) -> None:
        self.workdir = workdir
        self.effects_dir = effects_dir
        self.extra_env = dict(env)
        self.ingress_port = 0
        self.admin_port = 0
        self.process: ManagedProcess | None = None

    @property
    def ingress_url(self) -> str:
        return f"http://127.0.0.1:{self.ingress_port}"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    def start(self, attempts: int = 3) -> None:
        for attempt in range(1, attempts + 1):
            self._spawn(attempt)
            if self._wait_ready(timeout=30.0):
                return
            # Most likely a port taken between free_port() and bind; try again with fresh ones.
            assert self.process is not None
            log = self.process.log_text(limit=4000)
            self.stop()
            if attempt == attempts:
                pytest.fail(f"perdure dev did not become ready; its log:\n{log}", pytrace=False)

    def _spawn(self, attempt: int) -> None:
        self.ingress_port, self.admin_port = free_port(), free_port()
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("RESTATE_")},
            # Retry pacing as for restate-server (the settings perdure does not know are unused).
            **BASE_ENV,
            **self.extra_env,
            # The service modules import each other and the SDK switch by plain module name.
            "PYTHONPATH": os.pathsep.join(
                filter(None, [str(SERVICES_DIR), os.environ.get("PYTHONPATH")])
            ),
            SDK_ENV: "perdure",
            "INTEROP_EFFECTS_DIR": str(self.effects_dir),
            IDENTITY_KEYS_ENV: "",
            "PYTHONUNBUFFERED": "1",
        }
        argv = [
            perdure_cli(), "dev", str(APP_FILE),
            "--data-dir", str(self.workdir / f"data-{attempt}"),
            "--ingress-port", str(self.ingress_port),
            "--admin-port", str(self.admin_port),
        ]  # fmt: skip
        self.process = ManagedProcess(
            "perdure dev",
            argv,
            env=env,
            cwd=SERVICES_DIR,
            log_path=self.workdir / "perdure-dev.log",
        )
        self.process.start()

    def _wait_ready(self, timeout: float) -> bool:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.process.exit_code() is not None:
                    return False
                try:
                    if (
                        client.get(f"{self.ingress_url}/restate/health").status_code == 200
                        and client.get(f"{self.admin_url}/health").status_code == 200
                    ):
                        return True
                except httpx.TransportError:
                    pass
                time.sleep(0.05)
        return False

    def services(self) -> list[str]:
        """The services registered at startup (no registration step in embedded mode)."""
        with httpx.Client(timeout=10.0) as client:
            response = client.get(f"{self.admin_url}/services")
        assert response.status_code == 200, response.text
        return sorted(s["name"] for s in response.json()["services"])

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
