"""`perdure dev` as a child process on free loopback ports, started and stopped by its pid.

Process handling and ports come from the interop harness (tests/interop/harness).
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TypeVar

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"
APPS = Path(__file__).resolve().parent / "apps"
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from tests.interop.harness.ports import (  # noqa: E402
    free_port as free_port,
    port_accepts as port_accepts,
)
from tests.interop.harness.process import ManagedProcess as ManagedProcess  # noqa: E402

T = TypeVar("T")


def perdure_cli() -> str:
    cli = shutil.which("perdure") or str(Path(sys.executable).parent / "perdure")
    if not os.access(cli, os.X_OK):
        pytest.fail("the `perdure` command is not installed: pip install -e '.[dev]'")
    return cli


def poll(probe: Callable[[], T | None], what: str, within: float = 20.0) -> T:
    """`probe()` until it returns something other than None/False (deadline, no fixed sleep)."""
    deadline = time.monotonic() + within
    last: object = None
    while time.monotonic() < deadline:
        last = probe()
        if last is not None and last is not False:
            return last  # type: ignore[return-value]
        time.sleep(0.05)
    raise AssertionError(f"waited {within}s for {what}; last: {last!r}")


class Dev:
    """One `perdure dev APP` process; `start` again (same data dir) after it stopped."""

    def __init__(self, app: Path, workdir: Path, env: Mapping[str, str]) -> None:
        self.app = app
        self.workdir = workdir
        self.data_dir = workdir / "data"
        self.env = {k: v for k, v in os.environ.items() if not k.startswith("RESTATE_")}
        self.env.update(env)
        self.env["PYTHONUNBUFFERED"] = "1"
        self.ingress_port = self.admin_port = 0
        self.process: ManagedProcess | None = None
        self.runs = 0

    @property
    def ingress_url(self) -> str:
        return f"http://127.0.0.1:{self.ingress_port}"

    @property
    def admin_url(self) -> str:
        return f"http://127.0.0.1:{self.admin_port}"

    @property
    def pid(self) -> int:
        assert self.process is not None and self.process.pid is not None
        return self.process.pid

    def start(self) -> None:
        log = ""
        for _ in range(3):  # a port may be taken between free_port() and bind
            self.runs += 1
            self.ingress_port, self.admin_port = free_port(), free_port()
            argv = [
                perdure_cli(), "dev", str(self.app),
                "--data-dir", str(self.data_dir),
                "--ingress-port", str(self.ingress_port),
                "--admin-port", str(self.admin_port),
            ]  # fmt: skip
            self.process = ManagedProcess(
                "perdure dev",
                argv,
                env=self.env,
                cwd=self.workdir,
                log_path=self.workdir / f"dev-{self.runs}.log",
            )
            self.process.start()
            if self._wait_healthy(30.0):
                return
            log = self.process.log_text(limit=4000)
            self.process.stop()
        pytest.fail(f"perdure dev did not become ready; its log:\n{log}", pytrace=False)

    def _wait_healthy(self, within: float) -> bool:
        assert self.process is not None
        deadline = time.monotonic() + within
        with httpx.Client(timeout=2.0) as http:
            while time.monotonic() < deadline and self.process.exit_code() is None:
                try:
                    if (
                        http.get(f"{self.ingress_url}/restate/health").status_code == 200
                        and http.get(f"{self.admin_url}/health").status_code == 200
                    ):
                        return True
                except httpx.TransportError:
                    pass
                time.sleep(0.05)
        return False

    def signal(self, sig: signal.Signals, within: float = 20.0) -> int:
        """Send `sig` to the process we started and wait for it to exit; its exit code."""
        assert self.process is not None
        os.kill(self.pid, sig)
        process = self.process
        code = poll(process.exit_code, f"perdure dev to exit after {sig.name}", within)
        self.process = None
        return code

    def log(self) -> str:
        return "\n".join(
            (self.workdir / f"dev-{run}.log").read_text(errors="replace")
            for run in range(1, self.runs + 1)
            if (self.workdir / f"dev-{run}.log").exists()
        )

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
            self.process = None
