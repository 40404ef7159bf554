"""Finding the handler functions of a module, in every way the SDK lets one declare them.

- restate style: ``greeter = perdure.Service("Greeter")`` (or ``VirtualObject``,
  ``Workflow``; ``import perdure as restate`` or ``import restate`` alike), then
  ``@greeter.handler(...)`` or, on a workflow, ``@greeter.main(...)``. The definition is
  followed through assignments in the scope that declares the handler and the scopes
  around it (``svc = greeter`` works; a definition imported from another module does not,
  see the fallback below).
- class style: ``@perdure.typed.handler(...)`` / ``@main(...)`` (from ``perdure.typed``
  or ``perdure.sdk.typed``) on the functions of a ``TypedService`` / ``TypedObject`` /
  ``TypedWorkflow`` subclass.
- fallback: ``@anything.handler(...)`` / ``.main(...)`` on a function whose first
  parameter is annotated with an SDK context type (``ctx: perdure.ObjectContext``).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from perdure.lint.names import Resolver, scope_nodes

Function = ast.FunctionDef | ast.AsyncFunctionDef

DEFINITIONS = frozenset({"Service", "VirtualObject", "Workflow"})
REGISTRARS = frozenset({"handler", "main"})
TYPED_DECORATORS = frozenset(
    f"perdure.{module}.{name}" for module in ("typed", "sdk.typed") for name in REGISTRARS
)
CONTEXTS = frozenset(
    {"Context", "ObjectContext", "ObjectSharedContext", "WorkflowContext", "WorkflowSharedContext"}
)


@dataclass(frozen=True)
class Handler:
    node: Function
    name: str  # as written: `greet`, or `Greeter.greet` for a class-based one
    context: str | None  # the name of its context parameter (the first one)


def find_handlers(tree: ast.Module, resolver: Resolver) -> list[Handler]:
    """Every handler function of the module, in source order."""
    found = list(_handlers_in(tree.body, resolver, frozenset(), prefix=""))
    return sorted(found, key=lambda h: (h.node.lineno, h.node.col_offset))


def is_context_annotation(annotation: ast.expr | None, resolver: Resolver) -> bool:
    if annotation is None:
        return False
    if isinstance(annotation, ast.Subscript):
        annotation = annotation.value
    name = resolver.sdk_name(annotation)
    return name is not None and name.rpartition(".")[2] in CONTEXTS


def context_parameter(function: Function | ast.Lambda) -> ast.arg | None:
    positional = [*function.args.posonlyargs, *function.args.args]
    return positional[0] if positional else None


def _handlers_in(
    body: Iterable[ast.AST], resolver: Resolver, outer: frozenset[str], prefix: str
) -> Iterator[Handler]:
    nodes = list(scope_nodes(body))
    definitions = _definitions(nodes, resolver, outer)
    for node in nodes:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            if _is_handler(node, resolver, definitions):
                parameter = context_parameter(node)
                yield Handler(node, prefix + node.name, parameter.arg if parameter else None)
            yield from _handlers_in(node.body, resolver, definitions, prefix="")
        elif isinstance(node, ast.ClassDef):
            yield from _handlers_in(node.body, resolver, definitions, f"{prefix}{node.name}.")


def _definitions(nodes: list[ast.AST], resolver: Resolver, outer: frozenset[str]) -> frozenset[str]:
    """The names bound to a service definition in this scope, plus those of outer scopes."""
    names = set(outer)
    for node in nodes:
        if isinstance(node, ast.Assign):
            targets, value = node.targets, node.value
        elif isinstance(node, ast.AnnAssign) and node.value is not None:
            targets, value = [node.target], node.value
        else:
            continue
        if _is_definition(value, resolver, names):
            names.update(t.id for t in targets if isinstance(t, ast.Name))
    return frozenset(names)


def _is_definition(expr: ast.expr, resolver: Resolver, names: set[str] | frozenset[str]) -> bool:
    if isinstance(expr, ast.Name):
        return expr.id in names
    if isinstance(expr, ast.Call):
        name = resolver.sdk_name(expr.func)
        return name is not None and name.rpartition(".")[2] in DEFINITIONS
    return False


def _is_handler(function: Function, resolver: Resolver, definitions: frozenset[str]) -> bool:
    for decorator in function.decorator_list:
        target = decorator.func if isinstance(decorator, ast.Call) else decorator
        if resolver.sdk_name(target) in TYPED_DECORATORS:
            return True
        if not isinstance(target, ast.Attribute) or target.attr not in REGISTRARS:
            continue
        if _is_definition(target.value, resolver, definitions):
            return True
        parameter = context_parameter(function)
        if parameter is not None and is_context_annotation(parameter.annotation, resolver):
            return True
    return False
