"""What kind of value an expression has, as far as a glance at the code tells: a set, a
file-system path, a mutable container.

Names are followed one step at a time: a name is a set when every binding it has in the
scope is a set (``seen = set()``, ``seen: set[str] = ...``, a parameter annotated
``set[...]``), so ``items = set(xs)`` then ``items = sorted(items)`` is not one.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Collection, Iterable

from perdure.lint import rules
from perdure.lint.names import Resolver

ValueTest = Callable[[ast.expr, Collection[str]], bool]

_SET_OPERATORS = (ast.BitOr, ast.BitAnd, ast.Sub, ast.BitXor)


def is_set(expr: ast.expr, resolver: Resolver, set_names: Collection[str]) -> bool:
    if isinstance(expr, ast.Set | ast.SetComp):
        return True
    if isinstance(expr, ast.Name):
        return expr.id in set_names
    if isinstance(expr, ast.Call):
        if resolver.qualify(expr.func) in rules.SET_CONSTRUCTORS:
            return True
        func = expr.func
        return (
            isinstance(func, ast.Attribute)
            and func.attr in rules.SET_METHODS
            and is_set(func.value, resolver, set_names)
        )
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, _SET_OPERATORS):
        return is_set(expr.left, resolver, set_names) or is_set(expr.right, resolver, set_names)
    return False


def is_set_annotation(annotation: ast.expr, resolver: Resolver) -> bool:
    if isinstance(annotation, ast.Subscript):  # set[str]
        annotation = annotation.value
    return resolver.qualify(annotation) in rules.SET_ANNOTATIONS


def is_path(expr: ast.expr, resolver: Resolver, path_names: Collection[str]) -> bool:
    """A `pathlib.Path`: ``Path(...)``, ``Path.cwd()``, ``path / "x"``, ``path.parent``,
    ``path.with_suffix(...)``, or a name always bound to one."""
    if isinstance(expr, ast.Name):
        return expr.id in path_names
    if isinstance(expr, ast.Call):
        name = resolver.qualify(expr.func)
        if name in rules.PATH_CLASSES:
            return True
        if name is not None and name.rpartition(".")[0] in rules.PATH_CLASSES:
            return name.rpartition(".")[2] in rules.PATH_CLASS_IO
        func = expr.func
        return (
            isinstance(func, ast.Attribute)
            and func.attr in rules.PATH_DERIVED
            and is_path(func.value, resolver, path_names)
        )
    if isinstance(expr, ast.BinOp) and isinstance(expr.op, ast.Div):
        return is_path(expr.left, resolver, path_names)
    if isinstance(expr, ast.Attribute) and expr.attr in rules.PATH_DERIVED:
        return is_path(expr.value, resolver, path_names)
    return False


def is_path_annotation(annotation: ast.expr, resolver: Resolver) -> bool:
    return resolver.qualify(annotation) in rules.PATH_CLASSES


def is_mutable(expr: ast.expr, resolver: Resolver) -> bool:
    """A list, dict, set, bytearray or collections container, freshly made."""
    if isinstance(expr, ast.List | ast.Dict | ast.Set | ast.ListComp | ast.DictComp | ast.SetComp):
        return True
    return isinstance(expr, ast.Call) and resolver.qualify(expr.func) in rules.MUTABLE_CONSTRUCTORS


def names_always(
    nodes: Iterable[ast.AST],
    value_is: ValueTest,
    annotation_is: Callable[[ast.expr], bool],
) -> frozenset[str]:
    """The names that every binding among `nodes` binds to a value of one kind.

    `value_is(expr, known)` decides for an assigned value, given the names known to be of
    the kind so far (``b = a | {1}`` is a set once ``a`` is); repeated until nothing changes.
    """
    nodes = list(nodes)
    known: frozenset[str] = frozenset()
    while True:
        verdicts = _verdicts(nodes, value_is, annotation_is, known)
        found = frozenset(name for name, verdict in verdicts.items() if verdict)
        if found == known:
            return known
        known = found


def _verdicts(
    nodes: list[ast.AST],
    value_is: ValueTest,
    annotation_is: Callable[[ast.expr], bool],
    known: Collection[str],
) -> dict[str, bool]:
    """Name -> whether each of its bindings among `nodes` is of the kind."""
    verdicts: dict[str, bool] = {}
    judged: set[int] = set()  # Name nodes already decided by their assignment

    def note(target: ast.expr | str, verdict: bool) -> None:
        if isinstance(target, ast.Name):
            judged.add(id(target))
            target = target.id
        if isinstance(target, str):
            verdicts[target] = verdicts.get(target, True) and verdict

    for node in nodes:
        if isinstance(node, ast.Assign):
            for target in node.targets:
                note(target, value_is(node.value, known))
        elif isinstance(node, ast.AnnAssign):
            if annotation_is(node.annotation):
                note(node.target, True)
            elif node.value is not None:
                note(node.target, value_is(node.value, known))
            else:
                judged.add(id(node.target))  # a bare declaration binds nothing
        elif isinstance(node, ast.NamedExpr):
            note(node.target, value_is(node.value, known))
        elif isinstance(node, ast.AugAssign):  # `seen |= more` keeps the kind
            judged.add(id(node.target))
        elif isinstance(node, ast.arg):
            note(node.arg, node.annotation is not None and annotation_is(node.annotation))
    stored = (n for n in nodes if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store))
    for name in stored:  # any other binding (loop target, unpacking, ...) is unknown
        if id(name) not in judged:
            verdicts[name.id] = False
    return verdicts
