"""The services under test (official restate-sdk 1.2.0), served by hypercorn: one per session.

hypercorn speaks h2c (prior knowledge) and HTTP/1.1 on the same port, so servers register it as a
bidirectional HTTP/2 deployment. One worker: the services keep small in-process tallies (attempt
counts, released tokens) that must be the same process for every request.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .interop import ManagedProcess, free_port

SERVICES_DIR = Path(__file__).resolve().parent / "services"
# Mirrors services/conformance_app.py (that module runs in the hypercorn process; importing it
# here would load the SDK services into pytest).
SIGNING_KEY_ENV = "E2E_REQUEST_SIGNING"
SIGNED_PREFIX = "/signed/"
_BASE58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


@dataclass(frozen=True)
class SigningKeys:
    private_pem_file: Path  # for RESTATE_REQUEST_IDENTITY_PRIVATE_KEY_PEM_FILE
    public_key: str  # `publickeyv1_<base58 of the raw 32-byte Ed25519 key>`, as the SDK takes it


def make_signing_keys(directory: Path) -> SigningKeys:
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path = directory / "request-identity.pem"
    path.write_bytes(pem)
    raw = key.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return SigningKeys(path, "publickeyv1_" + _base58(raw))


def _base58(data: bytes) -> str:
    number = int.from_bytes(data, "big")
    digits = ""
    while number:
        number, rest = divmod(number, 58)
        digits = _BASE58[rest] + digits
    return "1" * (len(data) - len(data.lstrip(b"\0"))) + digits


class ServicesProcess:
    def __init__(self, workdir: Path, signing: SigningKeys) -> None:
        self.workdir = workdir
        self.signing = signing
        self.port = 0
        self.process: ManagedProcess | None = None

    @property
    def uri(self) -> str:
        """The deployment URI of the unsigned mount."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def signed_uri(self) -> str:
        """The deployment URI of the mount that verifies request signatures."""
        return f"{self.uri}{SIGNED_PREFIX.rstrip('/')}"

    def start(self, attempts: int = 3) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "hypercorn.toml"
        # The server multiplexes long-lived h2c streams on one connection: no stream or
        # keep-alive limit may cut it off (what restate-sdk recommends for hypercorn).
        config.write_text(
            "h2_max_concurrent_streams = 2147483647\n"
            "keep_alive_max_requests = 2147483647\n"
            "keep_alive_timeout = 2147483647\n"
            "workers = 1\n"
        )
        for attempt in range(1, attempts + 1):
            self.port = free_port()
            argv = [
                sys.executable, "-m", "hypercorn",
                "--config", str(config),
                "--bind", f"127.0.0.1:{self.port}",
                "conformance_app:app",
            ]  # fmt: skip
            self.process = ManagedProcess(
                "services (restate-sdk)",
                argv,
                env={
                    **os.environ,
                    "PYTHONPATH": os.pathsep.join(
                        filter(None, [str(SERVICES_DIR), os.environ.get("PYTHONPATH")])
                    ),
                    SIGNING_KEY_ENV: self.signing.public_key,
                    "PYTHONUNBUFFERED": "1",
                },
                cwd=SERVICES_DIR,
                log_path=self.workdir / "services.log",
            )
            self.process.start()
            if self._wait_serving(timeout=30.0):
                return
            log = self.process.log_text(limit=4000)
            self.stop()
            if attempt == attempts:
                pytest.fail(f"the services did not start; their log:\n{log}", pytrace=False)

    def _wait_serving(self, timeout: float) -> bool:
        assert self.process is not None
        deadline = time.monotonic() + timeout
        with httpx.Client(timeout=2.0) as client:
            while time.monotonic() < deadline:
                if self.process.exit_code() is not None:
                    return False
                try:
                    if client.get(f"{self.uri}/health").status_code == 200:
                        return True
                except httpx.TransportError:
                    pass
                time.sleep(0.05)
        return False

    def stop(self) -> None:
        if self.process is not None:
            self.process.stop()
