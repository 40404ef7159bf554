"""Commands, messages and replies as bytes, for the rows that carry them between
partitions and nodes (cluster mode: `partition_messages`, `command_replies`).

JSON with tags for what JSON lacks: `{"$": name, ...fields}` for a dataclass, `{"$b": …}`
for bytes (base64), `{"$t": […]}` for a tuple, `{"$e": name, "v": …}` for an enum. Only
the types registered here decode: a row never names arbitrary code.
"""

from __future__ import annotations

import base64
import dataclasses
import enum
import json
from typing import Any

_TYPES: dict[str, type[Any]] = {}


class WireError(ValueError):
    """A body that does not decode to a registered type."""


def register(*types: type[Any]) -> None:
    for cls in types:
        _TYPES[cls.__name__] = cls


def _encode(value: Any) -> Any:
    if value is None or (
        isinstance(value, bool | int | float | str) and not isinstance(value, enum.Enum)
    ):
        return value
    if isinstance(value, bytes):
        return {"$b": base64.b64encode(value).decode("ascii")}
    if isinstance(value, tuple):
        return {"$t": [_encode(v) for v in value]}
    if isinstance(value, list):
        return [_encode(v) for v in value]
    if isinstance(value, enum.Enum):
        return {"$e": type(value).__name__, "v": _encode(value.value)}
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        out = {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)}
        out["$"] = type(value).__name__
        return out
    raise WireError(f"cannot encode a {type(value).__name__}")


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "$b" in value:
        return base64.b64decode(value["$b"])
    if "$t" in value:
        return tuple(_decode(v) for v in value["$t"])
    name = value.get("$e", value.get("$"))
    cls = _TYPES.get(str(name))
    if cls is None:
        raise WireError(f"{name!r} is not a type that travels between partitions")
    if "$e" in value:
        return cls(_decode(value["v"]))
    return cls(**{k: _decode(v) for k, v in value.items() if k != "$"})


def encode(value: Any) -> bytes:
    return json.dumps(_encode(value), separators=(",", ":")).encode()


def decode(body: bytes) -> Any:
    try:
        return _decode(json.loads(body))
    except (ValueError, TypeError) as exc:
        raise WireError(f"undecodable body: {exc}") from None
