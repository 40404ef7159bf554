"""Identifiers in Restate's formats: invocation ids, awakeable (signal) ids, deployment ids.

An invocation id is 24 raw bytes, ``partition_key (u64 BE) || uuid (u128 BE)``. Its string
form is ``inv_1`` + base62(partition_key, 11 chars) + base62(uuid, 22 chars), where each
integer is first byte-swapped (Restate encodes ``n.to_be()`` on a little-endian host) and
left-padded with ``0``. The alphabet is ``0-9a-zA-Z``.

An awakeable id is ``sign_1`` + base64url-nopad(raw invocation id || u32 BE signal index).
"""

from __future__ import annotations

import base64
import hashlib
import os
import struct
import time
from dataclasses import dataclass

from perdure.protocol.errors import ProtocolError

BASE62_ALPHABET = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
_BASE62_INDEX = {c: i for i, c in enumerate(BASE62_ALPHABET)}

INVOCATION_ID_PREFIX = "inv_1"
AWAKEABLE_ID_PREFIX = "sign_1"
LEGACY_AWAKEABLE_ID_PREFIX = "prom_1"
DEPLOYMENT_ID_PREFIX = "dp_1"

_PK_CHARS = 11
_UUID_CHARS = 22
INVOCATION_ID_LENGTH = len(INVOCATION_ID_PREFIX) + _PK_CHARS + _UUID_CHARS  # 38

# Unnamed signal indexes: 1 is CANCEL, 2..16 are reserved, awakeables start at 17.
CANCEL_SIGNAL_INDEX = 1
FIRST_AWAKEABLE_SIGNAL_INDEX = 17


class InvalidIdError(ProtocolError, ValueError):
    """A string or byte sequence is not a valid identifier of the expected kind."""


def base62_encode(n: int, width: int) -> str:
    """Encode a non-negative int as base62, left-padded with '0' to `width` chars."""
    if n < 0:
        raise ValueError("base62 encodes non-negative integers only")
    digits: list[str] = []
    while n:
        n, r = divmod(n, 62)
        digits.append(BASE62_ALPHABET[r])
    if len(digits) > width:
        raise ValueError(f"value needs {len(digits)} base62 digits, more than {width}")
    return "".join(reversed(digits)).rjust(width, "0")


def base62_decode(s: str) -> int:
    n = 0
    for c in s:
        try:
            n = n * 62 + _BASE62_INDEX[c]
        except KeyError:
            raise InvalidIdError(f"{c!r} is not a base62 character") from None
    return n


def _swap(value: int, size: int) -> int:
    """Restate encodes `value.to_be()`: on little-endian hosts, the byte-reversed value."""
    return int.from_bytes(value.to_bytes(size, "big"), "little")


@dataclass(frozen=True, slots=True, order=True)
class InvocationId:
    """An invocation id: the partition key routes it, the uuid makes it unique."""

    partition_key: int
    uuid: int

    def __post_init__(self) -> None:
        if not 0 <= self.partition_key < 1 << 64:
            raise InvalidIdError("partition key out of u64 range")
        if not 0 <= self.uuid < 1 << 128:
            raise InvalidIdError("uuid out of u128 range")

    @classmethod
    def from_bytes(cls, raw: bytes) -> InvocationId:
        if len(raw) != 24:
            raise InvalidIdError(f"a raw invocation id has 24 bytes, got {len(raw)}")
        return cls(int.from_bytes(raw[:8], "big"), int.from_bytes(raw[8:], "big"))

    @classmethod
    def parse(cls, text: str) -> InvocationId:
        """Parse ``inv_1…``; raise `InvalidIdError` with a readable reason otherwise."""
        if not text.startswith(INVOCATION_ID_PREFIX):
            raise InvalidIdError(f"invocation id {text!r} must start with {INVOCATION_ID_PREFIX!r}")
        if len(text) != INVOCATION_ID_LENGTH:
            raise InvalidIdError(
                f"invocation id {text!r} has {len(text)} characters, "
                f"expected {INVOCATION_ID_LENGTH}"
            )
        body = text[len(INVOCATION_ID_PREFIX) :]
        pk = base62_decode(body[:_PK_CHARS])
        uuid = base62_decode(body[_PK_CHARS:])
        if pk >= 1 << 64 or uuid >= 1 << 128:
            raise InvalidIdError(f"invocation id {text!r} is out of range")
        return cls(_swap(pk, 8), _swap(uuid, 16))

    @classmethod
    def generate(cls, partition_key: int | None = None) -> InvocationId:
        """A fresh id: ULID uuid, random partition key unless one is given."""
        if partition_key is None:
            partition_key = int.from_bytes(os.urandom(8), "big")
        return cls(partition_key, new_ulid())

    def to_bytes(self) -> bytes:
        return self.partition_key.to_bytes(8, "big") + self.uuid.to_bytes(16, "big")

    def __str__(self) -> str:
        return (
            INVOCATION_ID_PREFIX
            + base62_encode(_swap(self.partition_key, 8), _PK_CHARS)
            + base62_encode(_swap(self.uuid, 16), _UUID_CHARS)
        )


def new_ulid(now_ms: int | None = None) -> int:
    """A 128-bit ULID: 48 bits of milliseconds, 80 random bits."""
    if now_ms is None:
        now_ms = time.time_ns() // 1_000_000
    return ((now_ms & ((1 << 48) - 1)) << 80) | int.from_bytes(os.urandom(10), "big")


def _sha256_uuid(*parts: str) -> int:
    digest = hashlib.sha256(b",".join(p.encode() for p in parts)).digest()
    return int.from_bytes(digest[:16], "big")


def workflow_run_uuid(workflow: str, key: str) -> int:
    """Deterministic uuid of a workflow's `run` invocation (one per key)."""
    return _sha256_uuid("wf", workflow, key)


def idempotent_request_uuid(
    service: str, key: str | None, handler: str, idempotency_key: str
) -> int:
    """Deterministic uuid of an invocation made with an idempotency key."""
    parts = ["ik", service] + ([key] if key is not None else []) + [handler, idempotency_key]
    return _sha256_uuid(*parts)


def partition_key_for(value: str) -> int:
    """Stable partition key of a service key (or idempotency key): first 8 bytes of sha256."""
    return int.from_bytes(hashlib.sha256(value.encode()).digest()[:8], "big")


def random_seed_for(invocation_id: InvocationId) -> int:
    """Seed for ctx.random(): first 8 bytes (BE) of sha256(raw id), as the V5 fallback."""
    return int.from_bytes(hashlib.sha256(invocation_id.to_bytes()).digest()[:8], "big")


@dataclass(frozen=True, slots=True)
class AwakeableId:
    """Identifies one unnamed signal of one invocation."""

    invocation_id: InvocationId
    signal_index: int

    @classmethod
    def parse(cls, text: str) -> AwakeableId:
        if not text.startswith(AWAKEABLE_ID_PREFIX):
            raise InvalidIdError(f"awakeable id {text!r} must start with {AWAKEABLE_ID_PREFIX!r}")
        payload = text[len(AWAKEABLE_ID_PREFIX) :]
        try:
            raw = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
        except (ValueError, TypeError):
            raise InvalidIdError(f"awakeable id {text!r} is not valid base64url") from None
        if len(raw) != 28:
            raise InvalidIdError(f"awakeable id {text!r} does not hold 28 bytes")
        (index,) = struct.unpack(">I", raw[24:])
        return cls(InvocationId.from_bytes(raw[:24]), index)

    def __str__(self) -> str:
        raw = self.invocation_id.to_bytes() + struct.pack(">I", self.signal_index)
        return AWAKEABLE_ID_PREFIX + base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def awakeable_id_str(raw_invocation_id: bytes, signal_index: int) -> str:
    """Awakeable id from the raw id in StartMessage (what an SDK has at hand)."""
    raw = raw_invocation_id + struct.pack(">I", signal_index)
    return AWAKEABLE_ID_PREFIX + base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def new_deployment_id() -> str:
    """`dp_1` + the ULID encoded as restate does (byte-swapped, like invocation ids)."""
    return DEPLOYMENT_ID_PREFIX + base62_encode(_swap(new_ulid(), 16), _UUID_CHARS)


# restate's resource prefixes and its reasons for refusing an id string (`IdDecodeError`);
# servers quote them in their 400s: `bad invocation id 'x': bad format`.
_RESOURCE_PREFIXES = ("inv", "dp", "sub", "prom", "sign", "snap", "mut", "vq")
_RAW_LENGTHS = {"prom": 28, "sign": 28}  # raw invocation id (24) + u32


def _decode_base62_token(token: str, bits: int) -> str | None:
    trimmed = token.lstrip("0")
    if any(c not in _BASE62_INDEX for c in trimmed):
        return "base62 decode error"
    if trimmed and base62_decode(trimmed) >= 1 << bits:
        return "base62 decode error"
    return None


def id_decode_problem(text: str, prefix: str) -> str | None:
    """Why restate refuses `text` as an id with resource `prefix` ("inv", "prom", "sign"),
    in its words; None if restate accepts it."""
    if not text:
        return "bad length"
    if "_" not in text:
        return "bad format"
    resource, rest = text.split("_", 1)
    if resource not in _RESOURCE_PREFIXES:
        return f"unrecognized resource type: {resource}"
    if not rest:
        return "bad length"
    if rest[0] != "1":
        return "unrecognized codec version"
    if resource != prefix:
        return "id doesn't match the expected type"
    body = rest[1:]
    tokens = {"inv": ((0, _PK_CHARS, 64), (_PK_CHARS, _UUID_CHARS, 128))}.get(
        prefix, ((0, _UUID_CHARS, 128),) if prefix == "dp" else None
    )
    if tokens is not None:  # base62 integers: invocation (u64, u128), deployment (u128)
        for start, width, bits in tokens:
            token = body[start : start + width]
            if len(token) < width:
                return "bad length"
            problem = _decode_base62_token(token, bits)
            if problem:
                return problem
        return "bad length" if len(body) != sum(width for _, width, _ in tokens) else None
    raw = _strict_base64url(body)
    if raw is None:
        return "base62 decode error"  # restate's Codec error, whatever the codec
    return "bad length" if len(raw) != _RAW_LENGTHS.get(prefix, 16) else None


def _strict_base64url(text: str) -> bytes | None:
    """Unpadded base64url as a strict decoder reads it: only the alphabet, and the last
    character without stray low bits (so `re-encode == input`); None otherwise."""
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except (ValueError, TypeError):
        return None
    return raw if base64.urlsafe_b64encode(raw).rstrip(b"=").decode() == text else None


def new_subscription_id() -> str:
    """`sub_1…`, shaped like restate's subscription ids."""
    return "sub_1" + base62_encode(_swap(new_ulid(), 16), _UUID_CHARS)
