"""Serialisation of handler inputs, outputs, state values and step results.

`DefaultSerde` picks by type hint: pydantic models, dataclasses, `bytes`, else JSON.
`None` is the empty byte string, in both directions.
"""

from __future__ import annotations

import dataclasses
import json
import sys
import typing
from abc import ABC, abstractmethod
from typing import Any, Generic, TypeVar

T = TypeVar("T")
I = TypeVar("I")  # noqa: E741
O = TypeVar("O")  # noqa: E741


class Serde(ABC, Generic[T]):
    """Turns values into bytes and back."""

    @abstractmethod
    def serialize(self, obj: T | None) -> bytes: ...

    @abstractmethod
    def deserialize(self, buf: bytes) -> T | None: ...


class BytesSerde(Serde[bytes]):
    """Raw bytes, unchanged."""

    def serialize(self, obj: bytes | None) -> bytes:
        return b"" if obj is None else bytes(obj)

    def deserialize(self, buf: bytes) -> bytes | None:
        return buf


class JsonSerde(Serde[T]):
    """JSON via the standard library; None <-> empty bytes."""

    def serialize(self, obj: T | None) -> bytes:
        if obj is None:
            return b""
        return json.dumps(obj, separators=(",", ":")).encode()

    def deserialize(self, buf: bytes) -> T | None:
        if not buf:
            return None
        return typing.cast(T, json.loads(buf))


def _is_pydantic(tp: object) -> bool:
    # A pydantic model exists only once pydantic is imported: never try to import it here
    # (a failed import is a path search on every call when pydantic is not installed).
    pydantic = sys.modules.get("pydantic")
    if pydantic is None:
        return False
    return isinstance(tp, type) and issubclass(tp, pydantic.BaseModel)


class PydanticJsonSerde(Serde[T]):
    """A pydantic model as JSON."""

    def __init__(self, model: type[T]) -> None:
        self.model = model

    def serialize(self, obj: T | None) -> bytes:
        if obj is None:
            return b""
        return typing.cast(bytes, obj.model_dump_json().encode())  # type: ignore[attr-defined]

    def deserialize(self, buf: bytes) -> T | None:
        if not buf:
            return None
        return typing.cast(T, self.model.model_validate_json(buf))  # type: ignore[attr-defined]


def _to_jsonable(obj: Any) -> Any:
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if _is_pydantic(type(obj)):
        return obj.model_dump(mode="json")
    return obj


def _from_jsonable(tp: Any, data: Any) -> Any:
    """Rebuild a dataclass (recursively) from parsed JSON; other types pass through."""
    if data is None:
        return None
    if dataclasses.is_dataclass(tp) and isinstance(tp, type) and isinstance(data, dict):
        hints = typing.get_type_hints(tp)
        kwargs = {
            f.name: _from_jsonable(hints.get(f.name, Any), data[f.name])
            for f in dataclasses.fields(tp)
            if f.name in data
        }
        return tp(**kwargs)
    if _is_pydantic(tp):
        return tp.model_validate(data)
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin is list and args and isinstance(data, list):
        return [_from_jsonable(args[0], x) for x in data]
    if origin is dict and len(args) == 2 and isinstance(data, dict):
        return {k: _from_jsonable(args[1], v) for k, v in data.items()}
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        non_none = [a for a in args if a is not type(None)]
        if len(non_none) == 1:
            return _from_jsonable(non_none[0], data)
    return data


class DefaultSerde(Serde[T]):
    """Chooses the encoding from a type hint: pydantic, dataclass, bytes, else JSON."""

    def __init__(self, type_hint: Any = None) -> None:
        self.type_hint = type_hint

    def with_hint(self, type_hint: Any) -> DefaultSerde[Any]:
        return DefaultSerde(type_hint)

    def serialize(self, obj: T | None) -> bytes:
        if obj is None:
            return b""
        if isinstance(obj, bytes | bytearray) and self.type_hint in (bytes, bytearray):
            return bytes(obj)
        if _is_pydantic(type(obj)):
            return typing.cast(bytes, obj.model_dump_json().encode())  # type: ignore[attr-defined]
        return json.dumps(_to_jsonable(obj), separators=(",", ":")).encode()

    def deserialize(self, buf: bytes) -> T | None:
        if self.type_hint in (bytes, bytearray):
            return typing.cast(T, buf)
        if not buf:
            return None
        if _is_pydantic(self.type_hint):
            return typing.cast(T, self.type_hint.model_validate_json(buf))
        return typing.cast(T, _from_jsonable(self.type_hint, json.loads(buf)))
