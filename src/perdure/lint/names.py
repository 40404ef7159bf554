"""What the names of one module mean: the qualified name an expression refers to.

``from time import time as now`` makes ``now()`` a call of ``time.time``; ``import
datetime as dt`` makes ``dt.datetime.now`` ``datetime.datetime.now``; a bare ``open`` that
nothing in the module rebinds is ``builtins.open``. A name the function binds itself (a
parameter, an assignment) refers to nothing we know, so ``random = ctx.random()`` is not the
`random` module. That is all the data flow there is: simple, and wrong only for code that
rebinds imported names in odd places.
"""

from __future__ import annotations

import ast
import builtins
from collections.abc import Iterable, Iterator

_BUILTINS = frozenset(dir(builtins))
_SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)

# `import restate` and `import perdure` name the same SDK: perdure mirrors restate-sdk.
SDK_ROOTS = frozenset({"perdure", "restate"})


def imports_of(tree: ast.Module) -> dict[str, str]:
    """Every name an import statement anywhere in the module binds, to what it imports.

    Imports inside functions count too (``import time`` in a handler is common), and a
    later import of a name wins, as it would at run time in straight-line code. A module
    that imports ``restate`` or ``perdure`` from another (a shim that picks the SDK) gets
    the SDK.
    """
    bound: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname is not None:
                    bound[alias.asname] = alias.name
                else:  # `import os.path` binds `os`
                    root = alias.name.partition(".")[0]
                    bound[root] = root
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            for alias in node.names:
                if alias.name in SDK_ROOTS:  # `from compat import restate`: a re-export
                    bound[alias.asname or alias.name] = alias.name
                elif alias.name != "*":
                    bound[alias.asname or alias.name] = f"{base}.{alias.name}"
    return bound


def scope_nodes(body: Iterable[ast.AST]) -> Iterator[ast.AST]:
    """The nodes of one scope: descends into compound statements, not into nested
    functions, classes or lambdas (their own nodes are yielded, their bodies are not)."""
    stack = list(body)[::-1]
    while stack:
        node = stack.pop()
        yield node
        if isinstance(node, _SCOPES):
            continue
        stack.extend(reversed(list(ast.iter_child_nodes(node))))


def bound_names(nodes: Iterable[ast.AST]) -> set[str]:
    """The names these nodes bind other than by import: assignment and loop targets,
    parameters, ``with ... as``, ``except ... as``, nested definitions, match captures."""
    return {name for node in nodes if (name := _bound_name(node)) is not None}


def _bound_name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id if isinstance(node.ctx, ast.Store | ast.Del) else None
    if isinstance(node, ast.arg):
        return node.arg
    if isinstance(node, ast.MatchMapping):
        return node.rest
    if isinstance(
        node,
        ast.FunctionDef
        | ast.AsyncFunctionDef
        | ast.ClassDef
        | ast.ExceptHandler
        | ast.MatchAs
        | ast.MatchStar,
    ):
        return node.name
    return None


def declared_global(nodes: Iterable[ast.AST]) -> set[str]:
    return {name for node in nodes if isinstance(node, ast.Global) for name in node.names}


class Resolver:
    """Qualified names of expressions, given the module's imports and top-level names and
    the names the code being checked binds locally."""

    def __init__(
        self,
        imports: dict[str, str],
        module_names: frozenset[str],
        local_names: frozenset[str] = frozenset(),
    ) -> None:
        self.imports = imports
        self.module_names = module_names
        self.local_names = local_names

    def with_locals(self, local_names: Iterable[str]) -> Resolver:
        return Resolver(self.imports, self.module_names, frozenset(local_names))

    def qualify(self, expr: ast.expr) -> str | None:
        """``time.time`` for ``now`` after ``from time import time as now``; None for an
        expression that is not a dotted name, or whose root we do not know."""
        if isinstance(expr, ast.Attribute):
            base = self.qualify(expr.value)
            return None if base is None else f"{base}.{expr.attr}"
        if not isinstance(expr, ast.Name) or expr.id in self.local_names:
            return None
        if expr.id in self.imports:
            return self.imports[expr.id]
        if expr.id in self.module_names:
            return None  # the module's own function or variable
        if expr.id in _BUILTINS:
            return f"builtins.{expr.id}"
        return None

    def sdk_name(self, expr: ast.expr) -> str | None:
        """The qualified name with the SDK's root spelled ``perdure`` (so that ``restate.Service``
        and ``perdure.Service`` compare equal); None outside the SDK."""
        name = self.qualify(expr)
        if name is None:
            return None
        root, _, rest = name.partition(".")
        return f"perdure.{rest}" if root in SDK_ROOTS and rest else None


def matches(name: str | None, modules: Iterable[str]) -> bool:
    """True when `name` is one of `modules` or inside one of them."""
    return name is not None and any(name == m or name.startswith(m + ".") for m in modules)
