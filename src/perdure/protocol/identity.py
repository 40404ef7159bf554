"""Request identity: the server signs each request with Ed25519; endpoints verify it.

Headers: ``x-restate-signature-scheme: v1`` and ``x-restate-jwt-v1: <JWT>``. The JWT header
is ``{"typ":"JWT","alg":"EdDSA","kid":"publickeyv1_<base58 public key>"}``; its claims are
``aud`` (the request path, normalised to ``/invoke/{service}/{handler}`` or ``/discover``),
``iat``, ``nbf``, ``exp`` and, for keyed targets, ``sub``.
"""

from __future__ import annotations

import base64
import json
import time
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from perdure.protocol.errors import ProtocolError

PUBLIC_KEY_PREFIX = "publickeyv1_"
SCHEME_HEADER = "x-restate-signature-scheme"
JWT_HEADER = "x-restate-jwt-v1"
SCHEME_V1 = "v1"

_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_B58_INDEX = {c: i for i, c in enumerate(_B58)}


class IdentityError(ProtocolError):
    """A request's identity could not be verified (the endpoint answers 401)."""


def b58encode(data: bytes) -> str:
    n = int.from_bytes(data, "big")
    out = ""
    while n:
        n, r = divmod(n, 58)
        out = _B58[r] + out
    pad = len(data) - len(data.lstrip(b"\0"))
    return "1" * pad + out


def b58decode(text: str) -> bytes:
    n = 0
    for c in text:
        try:
            n = n * 58 + _B58_INDEX[c]
        except KeyError:
            raise IdentityError(f"{c!r} is not a base58 character") from None
    pad = len(text) - len(text.lstrip("1"))
    body = n.to_bytes((n.bit_length() + 7) // 8, "big") if n else b""
    return b"\0" * pad + body


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64url_decode(text: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError):
        raise IdentityError("malformed base64url in JWT") from None


def public_key_string(key: Ed25519PublicKey) -> str:
    raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return PUBLIC_KEY_PREFIX + b58encode(raw)


def parse_public_key(text: str) -> Ed25519PublicKey:
    """Parse a ``publickeyv1_…`` identity key."""
    if not text.startswith(PUBLIC_KEY_PREFIX):
        raise IdentityError(f"identity key must start with {PUBLIC_KEY_PREFIX!r}")
    raw = b58decode(text[len(PUBLIC_KEY_PREFIX) :])
    if len(raw) != 32:
        raise IdentityError("identity key does not hold a 32-byte Ed25519 public key")
    return Ed25519PublicKey.from_public_bytes(raw)


def load_private_key_pem(pem: bytes) -> Ed25519PrivateKey:
    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise IdentityError("the request identity key must be an Ed25519 PKCS#8 PEM key")
    return key


def normalise_path(path: str) -> str:
    """The audience of a request path: its last ``/invoke/x/y`` or ``/discover`` part."""
    segments = path.split("?", 1)[0].rstrip("/").split("/")
    if len(segments) >= 3 and segments[-3] == "invoke":
        return "/invoke/" + segments[-2] + "/" + segments[-1]
    if segments and segments[-1] == "discover":
        return "/discover"
    return path


@dataclass(frozen=True, slots=True)
class RequestSigner:
    """Makes the identity headers for a server's requests to a deployment."""

    private_key: Ed25519PrivateKey
    validity_seconds: int = 60

    def headers(
        self, path: str, subject: str | None = None, now: float | None = None
    ) -> dict[str, str]:
        issued = int(now if now is not None else time.time())
        kid = public_key_string(self.private_key.public_key())
        header = {"typ": "JWT", "alg": "EdDSA", "kid": kid}
        claims: dict[str, object] = {
            "aud": normalise_path(path),
            "iat": issued,
            "nbf": issued - self.validity_seconds,
            "exp": issued + self.validity_seconds,
        }
        if subject is not None:
            claims["sub"] = subject
        signing_input = (
            _b64url(json.dumps(header, separators=(",", ":")).encode())
            + "."
            + _b64url(json.dumps(claims, separators=(",", ":")).encode())
        )
        signature = self.private_key.sign(signing_input.encode())
        return {SCHEME_HEADER: SCHEME_V1, JWT_HEADER: signing_input + "." + _b64url(signature)}


@dataclass(frozen=True, slots=True)
class RequestVerifier:
    """Checks identity headers against a set of trusted public keys."""

    keys: tuple[Ed25519PublicKey, ...]

    @classmethod
    def from_strings(cls, keys: list[str] | tuple[str, ...]) -> RequestVerifier:
        return cls(tuple(parse_public_key(k) for k in keys))

    def verify(self, path: str, headers: dict[str, str], now: float | None = None) -> None:
        """Raise `IdentityError` unless the headers carry a valid JWT for `path`."""
        if not self.keys:
            return
        scheme = headers.get(SCHEME_HEADER)
        if scheme is None or scheme == "unsigned":
            raise IdentityError("request is not signed")
        if scheme != SCHEME_V1:
            raise IdentityError(f"unknown signature scheme {scheme!r}")
        token = headers.get(JWT_HEADER)
        if not token:
            raise IdentityError(f"missing {JWT_HEADER} header")
        parts = token.split(".")
        if len(parts) != 3:
            raise IdentityError("malformed JWT")
        try:
            header = json.loads(_b64url_decode(parts[0]))
            claims = json.loads(_b64url_decode(parts[1]))
        except ValueError:
            raise IdentityError("malformed JWT JSON") from None
        if not isinstance(header, dict) or header.get("alg") != "EdDSA":
            raise IdentityError("JWT algorithm must be EdDSA")
        signature = _b64url_decode(parts[2])
        signed = (parts[0] + "." + parts[1]).encode()
        for key in self.keys:
            try:
                key.verify(signature, signed)
                break
            except InvalidSignature:
                continue
        else:
            raise IdentityError("JWT signature does not match any configured key")
        if not isinstance(claims, dict):
            raise IdentityError("JWT claims must be an object")
        for claim in ("aud", "exp", "iat", "nbf"):
            if claim not in claims:
                raise IdentityError(f"JWT lacks the {claim!r} claim")
        current = now if now is not None else time.time()
        exp, nbf = claims["exp"], claims["nbf"]
        if not isinstance(exp, int | float) or not isinstance(nbf, int | float):
            raise IdentityError("JWT exp/nbf must be numbers")
        if current > exp:
            raise IdentityError("JWT has expired")
        if current < nbf:
            raise IdentityError("JWT is not valid yet")
        if claims["aud"] != normalise_path(path):
            raise IdentityError("JWT audience does not match the request path")
