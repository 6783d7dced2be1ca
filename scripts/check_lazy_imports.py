"""Fail when an import inside a function dodges an import cycle.

An import inside a function is allowed to defer a heavy dependency (torch, transformers,
uvicorn, llama_cpp, celery, or a module of the package that loads one); it is not allowed
to hide a cycle. For every function-level import of a module of the package, this checks
whether the imported module, through the imports that run when it is loaded (module level,
outside ``if TYPE_CHECKING:``, its packages' ``__init__`` included), comes back to the
importing module: if it does, moving the import to the top would create a cycle, so the
import is a dodge and is reported.

Usage: ``python scripts/check_lazy_imports.py [SRC_DIR [PACKAGE]]`` (defaults: ``src``,
``smolit``); exit status 1 and one line per dodge when there are any.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class LazyImport:
    module: str
    target: str
    path: Path
    line: int


def module_names(src: Path, package: str) -> dict[str, Path]:
    """Every module of ``package`` under ``src``, by dotted name."""
    names: dict[str, Path] = {}
    for path in sorted((src / package).rglob("*.py")):
        parts = list(path.relative_to(src).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        names[".".join(parts)] = path
    return names


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _targets(node: ast.Import | ast.ImportFrom, module: str, is_package: bool) -> Iterator[str]:
    """The dotted names an import statement loads (a ``from`` import may name submodules)."""
    if isinstance(node, ast.Import):
        yield from (alias.name for alias in node.names)
        return
    base = node.module or ""
    if node.level:
        anchor = module.split(".") if is_package else module.split(".")[:-1]
        anchor = anchor[: len(anchor) - (node.level - 1)]
        base = ".".join([*anchor, base] if base else anchor)
    yield base
    yield from (f"{base}.{alias.name}" for alias in node.names)


def _walk(
    nodes: list[ast.AST], in_function: bool
) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Import statements with whether they sit inside a function, skipping type-only ones."""
    for node in nodes:
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node, in_function
        elif isinstance(node, ast.If) and _is_type_checking(node):
            yield from _walk(list(node.orelse), in_function)
        else:
            inner = in_function or isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
            yield from _walk(list(ast.iter_child_nodes(node)), inner)


def _with_packages(name: str, known: dict[str, Path]) -> list[str]:
    """``name`` and the packages above it that loading it runs, those of ``known`` only."""
    parts = name.split(".")
    return [p for p in (".".join(parts[:i]) for i in range(1, len(parts) + 1)) if p in known]


def scan(src: Path, package: str) -> tuple[dict[str, set[str]], list[LazyImport]]:
    """The load-time import graph of ``package`` and its function-level imports."""
    known = module_names(src, package)
    graph: dict[str, set[str]] = {name: set() for name in known}
    lazy: list[LazyImport] = []
    for name, path in known.items():
        # a module's own packages are loaded before it: importing them never loads them
        own = set(_with_packages(name, known))
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node, in_function in _walk(list(tree.body), False):
            loaded = {
                module
                for target in _targets(node, name, path.name == "__init__.py")
                for module in _with_packages(target, known)
            } - own
            if in_function:
                lazy.extend(LazyImport(name, t, path, node.lineno) for t in sorted(loaded))
            else:
                graph[name] |= loaded
    return graph, lazy


def path_back(graph: dict[str, set[str]], start: str, goal: str) -> list[str] | None:
    """A chain of load-time imports from ``start`` to ``goal``, or None."""
    previous: dict[str, str | None] = {start: None}
    queue = [start]
    while queue:
        current = queue.pop(0)
        if current == goal:
            chain = [current]
            while (step := previous[chain[-1]]) is not None:
                chain.append(step)
            return chain[::-1]
        for following in sorted(graph.get(current, ())):
            if following not in previous:
                previous[following] = current
                queue.append(following)
    return None


def dodges(src: Path, package: str) -> list[str]:
    """One line per function-level import that would close a cycle at module level."""
    graph, lazy = scan(src, package)
    found = []
    for item in lazy:
        chain = path_back(graph, item.target, item.module)
        if chain is not None:
            found.append(
                f"{item.path}:{item.line}: {item.module} imports {item.target} inside a "
                f"function to dodge the cycle {' -> '.join([item.module, *chain])}"
            )
    return found


def main(argv: list[str]) -> int:
    src = Path(argv[0]) if argv else Path("src")
    package = argv[1] if len(argv) > 1 else "smolit"
    found = dodges(src, package)
    for line in found:
        print(line)  # noqa: T201  (a command-line report)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
