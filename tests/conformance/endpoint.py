"""The services under test (official restate-sdk 1.2.0), served by hypercorn: one per session.

hypercorn speaks h2c (prior knowledge) and HTTP/1.1 on the same port, so servers register it as a
bidirectional HTTP/2 deployment. One worker: the services keep small in-process tallies (attempt
counts, released tokens) that must be the same process for every request.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from tests.support.endpoint import Endpoint, hypercorn

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


class ServicesProcess(Endpoint):
    def __init__(self, workdir: Path, signing: SigningKeys) -> None:
        super().__init__(
            "services (restate-sdk)",
            hypercorn("conformance_app:app", workdir),
            cwd=SERVICES_DIR,
            log_path=workdir / "services.log",
            env={SIGNING_KEY_ENV: signing.public_key},
            pythonpath=[SERVICES_DIR],
            health_path="/health",
        )
        self.signing = signing

    @property
    def signed_uri(self) -> str:
        """The deployment URI of the mount that verifies request signatures."""
        return f"{self.uri}{SIGNED_PREFIX.rstrip('/')}"
