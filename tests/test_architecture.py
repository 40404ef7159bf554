"""The layout DESIGN.md promises, checked from the source: import direction, no import
cycle, the engine's narrow API, module size, and transports that share no code."""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parent.parent / "src"
GENERATED = {"perdure.protocol.protocol_pb2"}
MAX_LINES = 600


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {
    _module_name(p): p for p in sorted(SRC.rglob("*.py")) if _module_name(p) not in GENERATED
}


def _resolve(module: str, level: int, name: str | None, current: str) -> str:
    if level:
        package = current.split(".")
        is_package = MODULES[current].name == "__init__.py"
        base = package[: len(package) - level + (1 if is_package else 0)]
        module = ".".join([*base, module] if module else base)
    if name is not None and f"{module}.{name}" in MODULES:
        return f"{module}.{name}"  # `from package import submodule`
    return module


def imports_of(module: str) -> Iterator[str]:
    """What `module` imports at import time (not inside functions or TYPE_CHECKING)."""
    tree = ast.parse(MODULES[module].read_text())
    for node in tree.body:
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                yield _resolve(node.module or "", node.level, alias.name, module)


def ours(target: str) -> str | None:
    """The module of ours that `target` names (a module, or a name inside one)."""
    while target and target not in MODULES:
        target = target.rpartition(".")[0]
    return target or None


GRAPH = {m: {t for i in imports_of(m) if (t := ours(i)) and t != m} for m in MODULES}


def _under(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


@pytest.mark.parametrize(
    ("layer", "forbidden"),
    [
        ("perdure.protocol", ["perdure.sdk", "perdure.server", "perdure.store", "perdure.client"]),
        ("perdure.sdk", ["perdure.server", "perdure.store", "perdure.client", "perdure.cli"]),
        ("perdure.store", ["perdure.server", "perdure.sdk", "perdure.client", "perdure.cli"]),
        (
            "perdure.server.engine",
            ["perdure.server.invoker", "perdure.server.ingress", "perdure.server.admin"],
        ),
        ("perdure.client", ["perdure.server", "perdure.store"]),
    ],
)
def test_import_direction(layer: str, forbidden: list[str]) -> None:
    wrong = [
        f"{m} imports {t}"
        for m, targets in GRAPH.items()
        if _under(m, layer)
        for t in targets
        if any(_under(t, f) for f in forbidden)
    ]
    assert wrong == []


def test_protocol_imports_nothing_of_ours_but_itself() -> None:
    wrong = [
        f"{m} imports {t}"
        for m, targets in GRAPH.items()
        if _under(m, "perdure.protocol")
        for t in targets
        if not _under(t, "perdure.protocol")
    ]
    assert wrong == []


def test_the_rest_of_the_server_uses_only_the_engine_package() -> None:
    wrong = [
        f"{m} imports {t}"
        for m, targets in GRAPH.items()
        if not _under(m, "perdure.server.engine")
        for t in targets
        if _under(t, "perdure.server.engine") and t != "perdure.server.engine"
    ]
    assert wrong == []


def test_no_import_cycle() -> None:
    # Tarjan's strongly connected components over the import graph.
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []
    counter = itertools.count()

    def visit(node: str) -> None:
        index[node] = low[node] = next(counter)
        stack.append(node)
        for target in GRAPH[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                cycles.append(sorted(component))

    for module in GRAPH:
        if module not in index:
            visit(module)
    assert cycles == []


def test_no_module_is_over_the_size_limit() -> None:
    big = {m: n for m, p in MODULES.items() if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert big == {}


TRANSPORTS = ["http1.py", "bidi.py", "in_process.py"]


def _normalised_lines(path: Path) -> list[str]:
    lines = []
    for line in path.read_text().splitlines():
        text = line.strip()
        if text and not text.startswith("#") and text not in {")", "]", "}", '"""'}:
            lines.append(text)
    return lines


@pytest.mark.parametrize(("a", "b"), list(itertools.combinations(TRANSPORTS, 2)))
def test_transports_share_no_run_of_six_lines(a: str, b: str) -> None:
    folder = SRC / "perdure" / "server" / "invoker"
    left, right = _normalised_lines(folder / a), _normalised_lines(folder / b)
    runs = {tuple(left[i : i + 6]) for i in range(len(left) - 5)}
    shared = [right[i : i + 6] for i in range(len(right) - 5) if tuple(right[i : i + 6]) in runs]
    assert shared == []
