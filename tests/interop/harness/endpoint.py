"""The services under test, served by the SDK under test in a child process on loopback."""

from __future__ import annotations

import os
import shutil
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from .ports import free_port, port_accepts
from .process import ManagedProcess

SDK_ENV = "PERDURE_INTEROP_SDK"
SDKS = ("perdure", "restate")
SERVICES_DIR = Path(__file__).resolve().parent.parent / "services"
APP_FILE = SERVICES_DIR / "interop_app.py"
IDENTITY_KEYS_ENV = "INTEROP_IDENTITY_KEYS"


def sdk_under_test() -> str:
    """`perdure` by default; `restate` (official restate-sdk) validates the harness itself."""
    sdk = os.environ.get(SDK_ENV, "perdure")
    if sdk not in SDKS:
        pytest.fail(f"{SDK_ENV}={sdk!r}; expected one of {SDKS}", pytrace=False)
    return sdk


def _hypercorn_config(workdir: Path) -> Path:
    # What the restate-sdk docs recommend for hypercorn: the server multiplexes many long-lived
    # h2c streams over one connection, so neither stream count nor keep-alive may cut it off.
    path = workdir / "hypercorn.toml"
    path.write_text(
        "h2_max_concurrent_streams = 2147483647\n"
        "keep_alive_max_requests = 2147483647\n"
        "keep_alive_timeout = 2147483647\n"
        "workers = 1\n"
    )
    return path


def _serve_argv(sdk: str, port: int, workdir: Path) -> list[str]:
    if sdk == "restate":
        return [
            sys.executable, "-m", "hypercorn",
            "--config", str(_hypercorn_config(workdir)),
            "--bind", f"127.0.0.1:{port}",
            "interop_app:app",
        ]  # fmt: skip
    cli = shutil.which("perdure") or str(Path(sys.executable).parent / "perdure")
    if not os.access(cli, os.X_OK):
        pytest.fail(
            "the `perdure` command is not installed; run `pip install -e '.[dev]'`, or validate "
            f"the harness with the official SDK: {SDK_ENV}=restate scripts/test tests/interop",
            pytrace=False,
        )
    return [cli, "serve", str(APP_FILE), "--port", str(port), "--host", "127.0.0.1"]


class ServiceEndpoint:
    """One process serving interop_app.py; restartable on the same port with other settings."""

    def __init__(
        self,
        workdir: Path,
        *,
        sdk: str,
        effects_dir: Path,
        identity_keys: Sequence[str] = (),
    ) -> None:
        self.workdir = workdir
        self.sdk = sdk
        self.effects_dir = effects_dir
        self.identity_keys = list(identity_keys)
        self.port = 0
        self.process: ManagedProcess | None = None

    @property
    def uri(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *, keep_port: bool = False, attempts: int = 3) -> None:
        for attempt in range(1, attempts + 1):
            if not keep_port or not self.port:
                self.port = free_port()
            self._spawn()
            if self._wait_listening(timeout=30.0):
                return
            assert self.process is not None
            log = self.process.log_text(limit=4000)
            self.stop()
            if attempt == attempts:
                pytest.fail(f"{self.sdk} endpoint did not start; its log:\n{log}", pytrace=False)

    def restart(self, *, identity_keys: Sequence[str]) -> None:
        """Replace the process, same port (the registered deployment URI stays valid)."""
        self.stop()
        self.identity_keys = list(identity_keys)
        self.start(keep_port=True)

    def _spawn(self) -> None:
        env: Mapping[str, str] = {
            **os.environ,
            # The service modules import each other and the SDK switch by plain module name.
            "PYTHONPATH": os.pathsep.join(
                filter(None, [str(SERVICES_DIR), os.environ.get("PYTHONPATH")])
            ),
            SDK_ENV: self.sdk,
            "INTEROP_EFFECTS_DIR": str(self.effects_dir),
            IDENTITY_KEYS_ENV: ",".join(self.identity_keys),
            "PYTHONUNBUFFERED": "1",
        }
        self.process = ManagedProcess(
            f"{self.sdk} endpoint",
            _serve_argv(self.sdk, self.port, self.workdir),
            env=env,
            cwd=SERVICES_DIR,
            log_path=self.workdir / "endpoint.log",
        )
        self.process.start()

    def _wait_listening(self, timeout: float) -> bool:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.exit_code() is not None:
                return False
            if port_accepts(self.port):
                return True
            time.sleep(0.05)
        return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
