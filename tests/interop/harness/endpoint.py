"""The services under test, served by the SDK under test in a child process on loopback."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.support.endpoint import Endpoint, hypercorn, perdure_serve

from .effects import EFFECTS_DIR_ENV

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


class ServiceEndpoint(Endpoint):
    """One process serving interop_app.py; restartable on the same port with other settings."""

    def __init__(
        self,
        workdir: Path,
        *,
        sdk: str,
        effects_dir: Path,
        identity_keys: Sequence[str] = (),
    ) -> None:
        if sdk == "restate":
            command = hypercorn("interop_app:app", workdir)
        else:
            hint = (
                ", or validate the harness with the official SDK: "
                f"{SDK_ENV}=restate scripts/test tests/interop"
            )
            command = perdure_serve(APP_FILE, cli_hint=hint)
        super().__init__(
            f"{sdk} endpoint",
            command,
            cwd=SERVICES_DIR,
            log_path=workdir / "endpoint.log",
            # The service modules import each other and the SDK switch by plain module name.
            pythonpath=[SERVICES_DIR],
            env={
                SDK_ENV: sdk,
                EFFECTS_DIR_ENV: str(effects_dir),
                IDENTITY_KEYS_ENV: ",".join(identity_keys),
            },
        )
        self.sdk = sdk

    def restart_with_keys(self, identity_keys: Sequence[str]) -> None:
        """Same port (the registered deployment URI stays valid), other identity keys."""
        self.restart({IDENTITY_KEYS_ENV: ",".join(identity_keys)})
