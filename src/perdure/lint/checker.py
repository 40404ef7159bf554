"""The checks of one handler body.

The body runs again on every attempt, so it is checked as a whole, nested functions and
lambdas included, with one exception: the action given to ``ctx.run`` / ``ctx.run_typed``
runs once and its result is journaled, so it may do anything. The action may be a lambda,
a function defined in the handler (by name), ``functools.partial(fn, ...)``, or a
module-level function (never checked: only handler bodies are). The *other* arguments of
``ctx.run_typed(name, fn, options, *args)`` are evaluated in the handler, so they are
checked: ``ctx.run_typed("x", fn, RunOptions(), time.time())`` is a finding.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass

from perdure.lint import kinds, rules
from perdure.lint.facts import ModuleFacts
from perdure.lint.handlers import Handler, is_context_annotation
from perdure.lint.names import bound_names, declared_global, matches

RUN_METHODS = frozenset({"run", "run_typed"})
PARTIAL = "functools.partial"
# Calls whose result does not depend on the order their generator argument yields in.
ORDER_FREE = frozenset(
    f"builtins.{name}" for name in ("all", "any", "frozenset", "len", "set", "sorted")
)


@dataclass(frozen=True)
class RawFinding:
    """A finding before it has a file: a position in the source and what was found."""

    line: int
    col_offset: int  # as ast gives it: 0-based, in UTF-8 bytes
    rule: rules.Rule
    message: str
    handler: str


def check_handler(handler: Handler, module: ModuleFacts) -> list[RawFinding]:
    checker = _Checker(handler, module)
    for statement in handler.node.body:
        checker.visit(statement)
    return checker.findings


def _shown(expr: ast.expr, qualified: str | None, call: bool = False) -> str:
    """How a finding names what it found: as written (``now()``), plus what that resolves
    to when it differs (``(time.time)``)."""
    written = ast.unparse(expr)
    if len(written) > 40:
        written = written[:39] + "…"
    shown = f"`{written}()`" if call else f"`{written}`"
    if qualified is None or qualified == written or qualified.startswith("builtins."):
        return shown
    return f"{shown} ({qualified})"


def _root(expr: ast.expr) -> str | None:
    """The name a chain of subscripts starts from: `CACHE` for ``CACHE[k][j]``."""
    while isinstance(expr, ast.Subscript):
        expr = expr.value
    return expr.id if isinstance(expr, ast.Name) else None


class _Checker(ast.NodeVisitor):
    def __init__(self, handler: Handler, module: ModuleFacts) -> None:
        self.handler = handler
        self.findings: list[RawFinding] = []
        nodes = list(ast.walk(handler.node))
        self.globals = frozenset(declared_global(nodes))
        local = frozenset(bound_names(nodes) - self.globals)
        self.resolver = module.resolver.with_locals(local)
        self.mutable_globals = module.mutable_globals - local
        resolver = self.resolver
        self.set_names = kinds.names_always(
            nodes,
            lambda e, known: kinds.is_set(e, resolver, known),
            lambda a: kinds.is_set_annotation(a, resolver),
        ) | (module.set_globals - local)
        self.path_names = kinds.names_always(
            nodes,
            lambda e, known: kinds.is_path(e, resolver, known),
            lambda a: kinds.is_path_annotation(a, resolver),
        ) | (module.path_globals - local)
        self.contexts = {handler.context} if handler.context else set()
        self.contexts.update(
            n.arg
            for n in nodes
            if isinstance(n, ast.arg) and is_context_annotation(n.annotation, module.resolver)
        )
        self.exempt_names: set[str] = set()  # functions defined here and given to ctx.run
        self.exempt_lambdas: set[int] = set()
        self.order_free: set[int] = set()  # comprehensions whose iteration order is lost
        self._find_actions(nodes)

    # -- ctx.run actions --------------------------------------------------------------

    def _is_run(self, call: ast.Call) -> bool:
        func = call.func
        return (
            isinstance(func, ast.Attribute)
            and func.attr in RUN_METHODS
            and isinstance(func.value, ast.Name)
            and func.value.id in self.contexts
        )

    @staticmethod
    def _action(call: ast.Call) -> ast.expr | None:
        if len(call.args) >= 2:
            return call.args[1]
        return next((k.value for k in call.keywords if k.arg == "action"), None)

    def _find_actions(self, nodes: list[ast.AST]) -> None:
        for node in nodes:
            if isinstance(node, ast.Call) and self._is_run(node):
                action = self._action(node)
                while isinstance(action, ast.Call) and self._is_partial(action):
                    action = action.args[0]
                if isinstance(action, ast.Lambda):
                    self.exempt_lambdas.add(id(action))
                elif isinstance(action, ast.Name):
                    self.exempt_names.add(action.id)
        for node in nodes:  # `step = lambda: ...` then `ctx.run("step", step)`
            if (
                isinstance(node, ast.Assign)
                and isinstance(node.value, ast.Lambda)
                and any(isinstance(t, ast.Name) and t.id in self.exempt_names for t in node.targets)
            ):
                self.exempt_lambdas.add(id(node.value))

    def _is_partial(self, call: ast.Call) -> bool:
        return bool(call.args) and self.resolver.qualify(call.func) == PARTIAL

    def _visit_action(self, action: ast.expr) -> None:
        if isinstance(action, ast.Call) and self._is_partial(action):
            self.visit(action.func)
            self._visit_action(action.args[0])
            for argument in [*action.args[1:], *(k.value for k in action.keywords)]:
                self.visit(argument)
        elif not isinstance(action, ast.Lambda | ast.Name | ast.Attribute):
            self.visit(action)  # an expression that computes the action runs here

    # -- reporting --------------------------------------------------------------------

    def _report(self, node: ast.expr | ast.stmt, rule: rules.Rule, message: str) -> None:
        self.findings.append(
            RawFinding(node.lineno, node.col_offset, rule, message, self.handler.name)
        )

    # -- visitors ---------------------------------------------------------------------

    def visit_Call(self, node: ast.Call) -> None:
        if self._is_run(node):
            self.visit(node.func)
            action = self._action(node)
            for argument in [*node.args, *(k.value for k in node.keywords)]:
                if argument is action:
                    self._visit_action(argument)
                else:
                    self.visit(argument)
            return
        if self.resolver.qualify(node.func) in ORDER_FREE:
            for argument in node.args:
                if isinstance(argument, ast.GeneratorExp):
                    self.order_free.update(id(g) for g in argument.generators)
        self._check_call(node)
        self.generic_visit(node)

    def visit_SetComp(self, node: ast.SetComp) -> None:
        self.order_free.update(id(g) for g in node.generators)  # a set has no order to leak
        self.generic_visit(node)

    def _check_call(self, node: ast.Call) -> None:
        name = self.resolver.qualify(node.func)
        if name is None:
            self._check_method(node)
            return
        shown = _shown(node.func, name, call=True)
        if name in rules.TIME_CALLS or (
            name in rules.TIME_WITHOUT_ARGUMENTS and not node.args and not node.keywords
        ):
            self._report(node, rules.TIME, f"{shown} reads the clock: a replay gets another time")
        elif name == rules.SEEDABLE and (node.args or node.keywords):
            pass  # random.Random(seed): the same numbers every time
        elif name in rules.SECRET_CALLS or matches(name, rules.SECRET_MODULES):
            self._report(node, rules.SECRET, f"{shown} draws randomness a replay cannot repeat")
        elif matches(name, rules.RANDOM_MODULES):
            self._report(node, rules.RANDOM, f"{shown} is unseeded: a replay gets other values")
        elif name in rules.UUID_CALLS:
            self._report(node, rules.UUID, f"{shown} makes another UUID on every replay")
        elif name in rules.ENV_CALLS:
            self._report(node, rules.ENV, f"{shown} reads the environment of the replaying process")
        elif name in rules.IO_CALLS or matches(name, rules.IO_MODULES) or self._is_path_io(name):
            self._report(node, rules.IO, f"{shown} does I/O: it runs again on every replay")

    @staticmethod
    def _is_path_io(name: str) -> bool:
        owner, _, method = name.rpartition(".")
        return owner in rules.PATH_CLASSES and (
            method in rules.PATH_IO_METHODS or method in rules.PATH_CLASS_IO
        )

    def _check_method(self, node: ast.Call) -> None:
        func = node.func
        if not isinstance(func, ast.Attribute):
            return
        if func.attr in rules.PATH_IO_METHODS and kinds.is_path(
            func.value, self.resolver, self.path_names
        ):
            self._report(
                node,
                rules.IO,
                f"`.{func.attr}()` on a path does I/O: it runs again on every replay",
            )
        elif func.attr in rules.MUTATING_METHODS and _root(func.value) in self.mutable_globals:
            self._report_global(node, _root(func.value))

    def _report_global(self, node: ast.expr, name: str | None) -> None:
        self._report(
            node,
            rules.GLOBAL_WRITE,
            f"writes module global `{name}`: module state is not journaled and differs between "
            "processes",
        )

    def visit_Name(self, node: ast.Name) -> None:
        if self.resolver.qualify(node) in rules.ENV_NAMES:
            self._report_env(node)
        elif isinstance(node.ctx, ast.Store | ast.Del) and node.id in self.globals:
            self._report_global(node, node.id)

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if self.resolver.qualify(node) in rules.ENV_NAMES:
            self._report_env(node)
            return
        self.generic_visit(node)

    def _report_env(self, node: ast.expr) -> None:
        shown = _shown(node, self.resolver.qualify(node))
        self._report(node, rules.ENV, f"{shown} is the environment of the replaying process")

    def visit_Subscript(self, node: ast.Subscript) -> None:
        if isinstance(node.ctx, ast.Store | ast.Del) and _root(node.value) in self.mutable_globals:
            self._report_global(node, _root(node.value))
        self.generic_visit(node)

    def _check_iteration(self, iterable: ast.expr) -> None:
        if kinds.is_set(iterable, self.resolver, self.set_names):
            self._report(
                iterable,
                rules.SET_ITERATION,
                "iterates over a set, whose order differs between processes (hashes are salted)",
            )

    def visit_For(self, node: ast.For) -> None:
        self._check_iteration(node.iter)
        self.generic_visit(node)

    def visit_AsyncFor(self, node: ast.AsyncFor) -> None:
        self._check_iteration(node.iter)
        self.generic_visit(node)

    def visit_comprehension(self, node: ast.comprehension) -> None:
        if id(node) not in self.order_free:
            self._check_iteration(node.iter)
        self.generic_visit(node)

    def _visit_function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        if node.name not in self.exempt_names:
            self.generic_visit(node)
            return
        # Given to ctx.run: only what runs here (decorators, defaults) is checked.
        for expr in [*node.decorator_list, *node.args.defaults, *node.args.kw_defaults]:
            if expr is not None:
                self.visit(expr)

    visit_FunctionDef = _visit_function
    visit_AsyncFunctionDef = _visit_function

    def visit_Lambda(self, node: ast.Lambda) -> None:
        if id(node) not in self.exempt_lambdas:
            self.generic_visit(node)
