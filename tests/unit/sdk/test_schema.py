from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any, Literal, Optional

import pydantic
import pytest

from perdure.sdk.schema import json_schema


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


@dataclass
class Point:
    x: int
    y: int = 0
    tags: list[str] = field(default_factory=list)


@dataclass
class Node:
    value: int
    next: Node | None = None


class Person(pydantic.BaseModel):
    name: str
    age: int | None = None


@pytest.mark.parametrize(
    ("hint", "expected"),
    [
        (str, {"type": "string"}),
        (int, {"type": "integer"}),
        (float, {"type": "number"}),
        (bool, {"type": "boolean"}),
        (None, {"type": "null"}),
        (list[int], {"type": "array", "items": {"type": "integer"}}),
        (list, {"type": "array", "items": True}),
        (dict, {"type": "object"}),
        (dict[str, float], {"type": "object", "additionalProperties": {"type": "number"}}),
        (Optional[int], {"type": ["integer", "null"]}),  # noqa: UP045 - the spelling matters here
        (str | None, {"type": ["string", "null"]}),
        (int | str, {"anyOf": [{"type": "integer"}, {"type": "string"}]}),
        (Literal["a", "b"], {"enum": ["a", "b"]}),
        (Color, {"enum": ["red", "blue"]}),
        (tuple[int, ...], {"type": "array", "items": {"type": "integer"}}),
        (Any, True),
        (bytes, True),
        (int | Any, True),
    ],
)
def test_schema_of_builtin_hints(hint: Any, expected: Any) -> None:
    assert json_schema(hint) == expected


def test_schema_of_a_dataclass_lists_fields_and_required_ones() -> None:
    assert json_schema(Point) == {
        "title": "Point",
        "type": "object",
        "properties": {
            "x": {"type": "integer"},
            "y": {"type": "integer"},
            "tags": {"type": "array", "items": {"type": "string"}},
        },
        "required": ["x"],
    }


def test_recursive_dataclass_does_not_loop() -> None:
    schema = json_schema(Node)
    assert isinstance(schema, dict)
    assert schema["properties"]["next"] is True


def test_schema_of_a_pydantic_model_is_its_own() -> None:
    assert json_schema(Person) == Person.model_json_schema(mode="serialization")


def test_optional_pydantic_model_is_nullable() -> None:
    schema = json_schema(Person | None)
    assert isinstance(schema, dict)
    assert schema["type"] == ["object", "null"]
