"""The package's modules and the imports between them, read from the source files (nothing
is imported), for the tests of the house's rules (test_runtime_isolation.py,
test_architecture.py)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Folder -> import name (pyproject.toml's package-dir). The runtime is the first three.
RUNTIME = {
    "edge_emotion": "edge_emotion",
    "kernels": "edge_emotion.kernels",
    "firmware_bridge": "edge_emotion.firmware_bridge",
}
WORKSTATION = {"training": "edge_emotion.training", "export": "edge_emotion.export"}


def package_modules(folders: dict[str, str]) -> dict[str, Path]:
    """Import name -> source file of every module under ``folders``."""
    modules = {}
    for folder, package in folders.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join((package, *parts))] = path
    return modules


def imports(tree: ast.AST, module_level_only: bool) -> list[tuple[str, list[str]]]:
    """(module, names) of every import; with ``module_level_only``, those that run when
    the module is imported (not inside functions)."""
    found = []

    def visit(node):
        for child in ast.iter_child_nodes(node):
            if module_level_only and isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            if isinstance(child, ast.Import):
                found.extend((alias.name, []) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                assert child.level == 0, "relative import"
                found.append((child.module, [alias.name for alias in child.names]))
            visit(child)

    visit(tree)
    return found


def trees(modules: dict[str, Path]) -> dict[str, ast.AST]:
    return {name: ast.parse(path.read_text(), str(path)) for name, path in modules.items()}


def graph(modules: dict[str, Path], module_level_only: bool) -> dict[str, set[str]]:
    """Module -> the modules among ``modules`` it imports."""
    edges_of = {}
    for name, tree in trees(modules).items():
        edges = set()
        for target, names in imports(tree, module_level_only):
            # "from package import submodule" depends on the submodule; other names on
            # the module (or package) itself.
            subs = {f"{target}.{n}" for n in names} & modules.keys()
            edges |= subs
            if target in modules and (not names or len(subs) < len(names)):
                edges.add(target)
        edges_of[name] = edges - {name}
    return edges_of


def cycles(edges_of: dict[str, set[str]]) -> list[str]:
    """Every cycle a depth-first walk meets, as ``a -> b -> a``."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    found = []

    def visit(node, path):
        state[node] = 1
        for nxt in sorted(edges_of[node]):
            if state.get(nxt) == 1:
                found.append(" -> ".join([*path[path.index(nxt) :], nxt]))
            elif nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = 2

    for node in sorted(edges_of):
        if node not in state:
            visit(node, [node])
    return found
