"""JSON in queries: the `->` / `->>` operators and the `json_*` functions restate registers.

restate-server adds datafusion-functions-json to its DataFusion session, which gives the
operators `->` and `->>` and functions such as `json_get_str`; Restate's UI uses
`event_json ->> 'error_message'`. The Python DataFusion package has neither: the functions
are registered here as UDFs over Arrow arrays, and a query containing `->`/`->>` is
rewritten to calls of them before planning (with sqlglot, parsing PostgreSQL's grammar,
which restate's parser also speaks). Queries without the operators are never rewritten,
so their text, column names and errors stay DataFusion's own.
"""

from __future__ import annotations

import json
from collections.abc import Callable

import pyarrow as pa
import sqlglot
from datafusion import ScalarUDF, udf
from sqlglot import exp

_TEXT = pa.large_utf8()


def _lookup(document: str | None, path: str | None) -> object:
    if document is None or path is None:
        return None
    try:
        value = json.loads(document)
    except ValueError:
        return None
    if isinstance(value, dict):
        return value.get(path)
    if isinstance(value, list) and path.lstrip("-").isdigit():
        index = int(path)
        return value[index] if -len(value) <= index < len(value) else None
    return None


def _as_text(value: object) -> str | None:
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


def _as_json(value: object) -> str | None:
    return None if value is None else json.dumps(value, separators=(",", ":"))


def _as_str(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _as_int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _as_bool(value: object) -> bool | None:
    return value if isinstance(value, bool) else None


def _function(name: str, convert: Callable[[object], object], kind: pa.DataType) -> ScalarUDF:
    def apply(documents: pa.Array, paths: pa.Array) -> pa.Array:
        return pa.array(
            [
                convert(_lookup(d, None if p is None else str(p)))
                for d, p in zip(documents.to_pylist(), paths.to_pylist(), strict=True)
            ],
            type=kind,
        )

    return udf(apply, [_TEXT, _TEXT], kind, "immutable", name)


def _contains(documents: pa.Array, paths: pa.Array) -> pa.Array:
    found: list[bool | None] = []
    for d, p in zip(documents.to_pylist(), paths.to_pylist(), strict=True):
        if d is None or p is None:
            found.append(None)
            continue
        try:
            value = json.loads(d)
        except ValueError:
            found.append(None)
            continue
        found.append(isinstance(value, dict) and str(p) in value)
    return pa.array(found, type=pa.bool_())


def json_udfs() -> list[ScalarUDF]:
    return [
        _function("json_as_text", _as_text, _TEXT),
        _function("json_get", _as_json, _TEXT),
        _function("json_get_json", _as_json, _TEXT),
        _function("json_get_str", _as_str, _TEXT),
        _function("json_get_int", _as_int, pa.int64()),
        _function("json_get_bool", _as_bool, pa.bool_()),
        udf(_contains, [_TEXT, _TEXT], pa.bool_(), "immutable", "json_contains"),
    ]


def _path_keys(path: exp.Expression) -> list[exp.Expression] | None:
    """The keys or indexes of a `->`/`->>` right-hand side, as SQL expressions (sqlglot
    folds `a -> 'x' -> 'y'` into one path of two keys)."""
    if isinstance(path, exp.JSONPath):
        keys: list[exp.Expression] = []
        for part in path.expressions:
            if isinstance(part, exp.JSONPathRoot):
                continue
            if not isinstance(part, exp.JSONPathKey | exp.JSONPathSubscript):
                return None
            keys.append(exp.Literal.string(str(part.this)))
        return keys or None
    if isinstance(path, exp.Literal):
        return [exp.Literal.string(str(path.this))]
    return [path]


def _replace(node: exp.Expression) -> exp.Expression:
    if not isinstance(node, exp.JSONExtractScalar | exp.JSONExtract):
        return node
    keys = _path_keys(node.expression)
    if keys is None:
        return node
    last = "json_as_text" if isinstance(node, exp.JSONExtractScalar) else "json_get"
    value: exp.Expression = node.this
    for i, key in enumerate(keys):
        name = last if i == len(keys) - 1 else "json_get"
        value = exp.Anonymous(this=name, expressions=[value, key])
    return value


def _has_arrow(sql: str) -> bool:
    """`->` outside string literals and quoted names."""
    try:
        tokens = sqlglot.tokenize(sql, read="postgres")
    except sqlglot.errors.TokenError:
        return False
    return any(t.token_type.name in ("ARROW", "DARROW") for t in tokens)


def rewrite_json_operators(sql: str) -> str:
    """`a ->> 'k'` as `json_as_text(a, 'k')`, `a -> 'k'` as `json_get(a, 'k')`; any other
    query (or one sqlglot cannot parse) is returned unchanged."""
    if "->" not in sql or not _has_arrow(sql):
        return sql
    try:
        tree = sqlglot.parse_one(sql, read="postgres")
    except sqlglot.errors.ParseError:
        return sql
    # Innermost first, so that `(a -> 'x') ->> 'y'` nests both calls.
    found: list[exp.Expression] = list(tree.find_all(exp.JSONExtract, exp.JSONExtractScalar))
    for node in reversed(found):
        node.replace(_replace(node))
    return tree.sql(dialect="postgres")
