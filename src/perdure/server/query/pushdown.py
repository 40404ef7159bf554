"""What a query needs from each stored table, read off DataFusion's optimized plan.

The query is planned once over empty tables of the catalog's schemas. Every `TableScan` in
the plan says which columns it reads (projection pushdown is DataFusion's own), whether a
bare LIMIT reached it (`fetch`), and a `Filter` right above it says which rows survive.
From the conjuncts of that filter, those of the form `column = 'text'`, `column IN (…)`
(or an OR of equalities on one column, DataFusion's form of a short IN list) on an identity
column are pushed to the store, which then reads only those rows (by index): the CLI's
`WHERE id = '…'` reads one invocation, not the whole table. DataFusion applies the full
filter again over what was fetched, so a pushed predicate only ever narrows the read to a
superset of the answer.

Safety: a table scanned where the walk cannot see (inside an expression's subquery, which
the optimizer did not turn into a join) shows up in the plan's text but not in the walk;
such a table, and any table scanned twice with different needs, is read whole.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from datafusion import Expr, LogicalPlan

# Columns whose stored text equals restate's value, so a store may compare them directly
# (the others are computed, decoded after fetching, or differ in type between stores).
PUSHABLE: dict[str, frozenset[str]] = {
    "sys_invocation": frozenset(
        {
            "id",
            "status",
            "target",
            "target_service_name",
            "target_service_key",
            "target_handler_name",
            "pinned_deployment_id",
            "invoked_by_id",
            "idempotency_key",
        }
    ),
    "sys_journal": frozenset({"id"}),
    "state": frozenset({"service_name", "service_key"}),
    "sys_inbox": frozenset({"service_name", "service_key", "id"}),
    "sys_keyed_service_status": frozenset({"service_name", "service_key", "invocation_id"}),
    "sys_promise": frozenset({"service_name", "service_key"}),
    "sys_service": frozenset({"name", "deployment_id"}),
    "sys_deployment": frozenset({"id"}),
}

# column -> the values it may take (one IN list); all of them must hold (AND).
Predicate = dict[str, frozenset[str]]


@dataclass
class Scan:
    table: str
    columns: tuple[str, ...]
    fetch: int | None
    predicate: Predicate


@dataclass
class Read:
    """How to read one stored table for a query."""

    table: str
    columns: set[str] = field(default_factory=set)
    predicate: Predicate = field(default_factory=dict)
    fetch: int | None = None
    whole: bool = False  # every column, every row


def _name(expr: Expr) -> tuple[str, object]:
    variant = expr.to_variant()
    return type(variant).__name__, variant


def _equalities(expr: Expr) -> Iterator[tuple[str, str]]:
    """(column, value) for `column = 'value'` and ORs of them; raises ValueError otherwise."""
    kind, variant = _name(expr)
    if kind == "BinaryExpr":
        op = variant.op()  # type: ignore[attr-defined]
        if op == "OR":
            yield from _equalities(variant.left())  # type: ignore[attr-defined]
            yield from _equalities(variant.right())  # type: ignore[attr-defined]
            return
        if op == "=":
            sides = [variant.left(), variant.right()]  # type: ignore[attr-defined]
            columns = [v for k, v in map(_name, sides) if k == "Column"]
            literals = [e for e in sides if _name(e)[0] == "Literal"]
            if len(columns) == 1 and len(literals) == 1:
                yield columns[0].name(), _text_literal(literals[0])  # type: ignore[attr-defined]
                return
    if kind == "InList" and not variant.negated():  # type: ignore[attr-defined]
        column_kind, column = _name(variant.expr())  # type: ignore[attr-defined]
        if column_kind == "Column":
            for item in variant.list():  # type: ignore[attr-defined]
                if _name(item)[0] != "Literal":
                    raise ValueError("not a literal")
                yield column.name(), _text_literal(item)  # type: ignore[attr-defined]
            return
    raise ValueError("not pushable")


def _text_literal(literal: Expr) -> str:
    value = literal.python_value().as_py()
    if not isinstance(value, str):
        raise ValueError("not a text literal")
    return value


def _conjuncts(expr: Expr) -> Iterator[Expr]:
    kind, variant = _name(expr)
    if kind == "BinaryExpr" and variant.op() == "AND":  # type: ignore[attr-defined]
        yield from _conjuncts(variant.left())  # type: ignore[attr-defined]
        yield from _conjuncts(variant.right())  # type: ignore[attr-defined]
    else:
        yield expr


def _predicate(table: str, filter_expr: Expr | None) -> Predicate:
    if filter_expr is None:
        return {}
    allowed = PUSHABLE.get(table, frozenset())
    predicate: Predicate = {}
    for conjunct in _conjuncts(filter_expr):
        try:
            pairs = list(_equalities(conjunct))
        except ValueError:
            continue
        columns = {c for c, _ in pairs}
        if len(columns) != 1 or not columns <= allowed:
            continue
        (column,) = columns
        values = frozenset(v for _, v in pairs)
        predicate[column] = predicate.get(column, values) & values
    return predicate


def _scans(plan: LogicalPlan, above: Expr | None = None) -> Iterator[Scan]:
    """Every table scan, with the filter directly above it (the optimizer pushes filters
    down to the scans; one above a projection may name the projection's own columns)."""
    variant = plan.to_variant()
    kind = type(variant).__name__
    if kind == "TableScan":
        name = variant.table_name()
        columns = tuple(c for _, c in variant.projection())
        yield Scan(name, columns, variant.fetch(), _predicate(name, above))
        return
    child_filter = variant.predicate() if kind == "Filter" else None
    for child in plan.inputs():
        yield from _scans(child, child_filter)


def plan_reads(plan: LogicalPlan, stored: frozenset[str]) -> dict[str, Read]:
    """The reads of the stored tables this optimized plan scans."""
    scans = [s for s in _scans(plan) if s.table in stored]
    text = plan.display_indent()
    reads: dict[str, Read] = {}
    for table in {s.table for s in scans} | _named_in(text, stored):
        mine = [s for s in scans if s.table == table]
        read = Read(table)
        reads[table] = read
        seen = len(re.findall(rf"TableScan: {re.escape(table)}\b", text))
        if seen != len(mine) or not mine:
            read.whole = True
            continue
        for scan in mine:
            read.columns.update(scan.columns)
        predicates = [s.predicate for s in mine]
        if all(p == predicates[0] for p in predicates):
            read.predicate = dict(predicates[0])
        fetches = [s.fetch for s in mine]
        if len(mine) == 1 and fetches[0] is not None and not read.predicate:
            read.fetch = fetches[0]
    return reads


def _named_in(text: str, stored: frozenset[str]) -> set[str]:
    return {t for t in stored if re.search(rf"TableScan: {re.escape(t)}\b", text)}
