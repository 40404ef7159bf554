"""What a module's top level tells the checks: its imports and aliases, the names it
defines, and which of them are mutable containers, sets or paths."""

from __future__ import annotations

import ast
from collections.abc import Collection
from dataclasses import dataclass

from perdure.lint import kinds
from perdure.lint.names import Resolver, bound_names, imports_of, scope_nodes


@dataclass(frozen=True)
class ModuleFacts:
    resolver: Resolver  # the module's view: no local names
    mutable_globals: frozenset[str]
    set_globals: frozenset[str]
    path_globals: frozenset[str]

    @classmethod
    def of(cls, tree: ast.Module) -> ModuleFacts:
        top = list(scope_nodes(tree.body))
        imports = imports_of(tree)
        module_names = frozenset(bound_names(top) - imports.keys())
        resolver = Resolver(_with_aliases(imports, top, module_names), module_names)

        def set_value(expr: ast.expr, known: Collection[str]) -> bool:
            return kinds.is_set(expr, resolver, known)

        def path_value(expr: ast.expr, known: Collection[str]) -> bool:
            return kinds.is_path(expr, resolver, known)

        def mutable_value(expr: ast.expr, known: Collection[str]) -> bool:
            return kinds.is_mutable(expr, resolver)

        return cls(
            resolver=resolver,
            mutable_globals=kinds.names_always(top, mutable_value, lambda _: False),
            set_globals=kinds.names_always(
                top, set_value, lambda a: kinds.is_set_annotation(a, resolver)
            ),
            path_globals=kinds.names_always(
                top, path_value, lambda a: kinds.is_path_annotation(a, resolver)
            ),
        )


def _with_aliases(
    imports: dict[str, str], top: list[ast.AST], module_names: frozenset[str]
) -> dict[str, str]:
    """The imports plus module-level aliases of imported names (``now = time.time``,
    ``handler = perdure.typed.handler``): a name bound once, to a dotted imported name."""
    resolver = Resolver(imports, module_names)
    bindings: dict[str, int] = {}
    for node in top:
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            bindings[node.id] = bindings.get(node.id, 0) + 1
    aliased = dict(imports)
    for node in top:
        if (
            isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and bindings.get(node.targets[0].id) == 1
            and isinstance(node.value, ast.Name | ast.Attribute)
        ):
            target = resolver.qualify(node.value)
            if target is not None and not target.startswith("builtins."):
                aliased[node.targets[0].id] = target
    return aliased
