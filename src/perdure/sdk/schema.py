"""JSON schemas of handler inputs and outputs, derived from type hints, for the manifest.

The server shows them in its UI and OpenAPI documents; it does not validate requests
against them. So a hint we cannot describe becomes ``True`` (the schema that accepts
anything) rather than an error.
"""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from typing import Any

JsonSchema = dict[str, Any] | bool

_PRIMITIVES: dict[Any, dict[str, Any]] = {
    str: {"type": "string"},
    int: {"type": "integer"},
    float: {"type": "number"},
    bool: {"type": "boolean"},
    type(None): {"type": "null"},
    None: {"type": "null"},
}


def json_schema(hint: Any) -> JsonSchema:
    """The JSON schema of values of type `hint`; ``True`` when it cannot say."""
    return _schema(hint, frozenset())


def _schema(hint: Any, seen: frozenset[Any]) -> JsonSchema:
    primitive = _primitive(hint)
    if primitive is not None:
        return primitive
    if _is_pydantic_model(hint):
        return typing.cast(dict[str, Any], hint.model_json_schema(mode="serialization"))
    if isinstance(hint, type) and dataclasses.is_dataclass(hint):
        return _dataclass_schema(hint, seen)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        return {"enum": [member.value for member in hint]}
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        return _union_schema(args, seen)
    if origin is typing.Literal:
        return {"enum": list(args)}
    if origin in (list, set, frozenset) or hint in (list, set, frozenset):
        items = _schema(args[0], seen) if args else True
        return {"type": "array", "items": items}
    if origin is tuple or hint is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return {"type": "array", "items": _schema(args[0], seen)}
        if args:
            return {
                "type": "array",
                "prefixItems": [_schema(a, seen) for a in args],
                "minItems": len(args),
                "maxItems": len(args),
            }
        return {"type": "array"}
    if origin is dict or hint is dict:
        if len(args) == 2:
            return {"type": "object", "additionalProperties": _schema(args[1], seen)}
        return {"type": "object"}
    return True


def _primitive(hint: Any) -> dict[str, Any] | None:
    try:
        found = _PRIMITIVES.get(hint)
    except TypeError:  # an unhashable hint is no primitive
        return None
    return None if found is None else dict(found)


def _union_schema(args: tuple[Any, ...], seen: frozenset[Any]) -> JsonSchema:
    options = [_schema(a, seen) for a in args]
    if any(o is True for o in options):
        return True
    nullable = type(None) in args
    non_null = [o for a, o in zip(args, options, strict=True) if a is not type(None)]
    if nullable and len(non_null) == 1:
        # Optional[X]: add "null" to X's type where it has one, as restate-sdk does.
        only = typing.cast(dict[str, Any], non_null[0])
        kind = only.get("type")
        if isinstance(kind, str):
            return {**only, "type": [kind, "null"]}
        if isinstance(kind, list):
            return {**only, "type": [*kind, "null"] if "null" not in kind else kind}
    return {"anyOf": options}


def _dataclass_schema(cls: type, seen: frozenset[Any]) -> JsonSchema:
    if cls in seen:
        return True  # a recursive dataclass: say "anything" rather than loop
    seen = seen | {cls}
    try:
        hints = typing.get_type_hints(cls)
    except (NameError, TypeError):
        hints = {}
    properties: dict[str, Any] = {}
    required: list[str] = []
    for f in dataclasses.fields(cls):
        properties[f.name] = _schema(hints.get(f.name, Any), seen)
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            required.append(f.name)
    schema: dict[str, Any] = {"title": cls.__name__, "type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


def _is_pydantic_model(hint: Any) -> bool:
    if not isinstance(hint, type):
        return False
    try:
        from pydantic import BaseModel
    except ImportError:  # pydantic is an optional dependency
        return False
    return issubclass(hint, BaseModel)
