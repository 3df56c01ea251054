"""The dependency rule of ``docs/architecture.md``: ``dashboard -> optimizer -> twin``.

``twin`` imports neither ``optimizer`` nor ``dashboard`` (its CLI, ``twin/cli/``, is the one
place that imports upward, and only lazily, inside the command that needs it); ``optimizer``
never imports ``dashboard``. Imports are read from the source (every ``import``/``from`` at
any depth, ``TYPE_CHECKING`` blocks included), so nothing is imported to check them.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

FORBIDDEN = {
    "twin": ("optimizer", "dashboard"),
    "optimizer": ("dashboard",),
    "dashboard": (),
}
"""Per package, the top-level packages its modules must not import."""

PRIVATE_IMPORTS_KNOWN: set[str] = set()
"""Private names still imported across modules, to be made public (then removed from here)."""


def _imports(tree: ast.Module) -> Iterator[tuple[ast.stmt, str, bool]]:
    """(statement, imported module, at module level) for every absolute import."""
    top = {id(node) for node in tree.body}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node, alias.name, id(node) in top
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node, node.module, id(node) in top


def _modules(package: str) -> list[Path]:
    return sorted((REPO / package).rglob("*.py"))


def _violations(package: str) -> list[str]:
    found = []
    for path in _modules(package):
        rel = path.relative_to(REPO)
        in_cli = rel.parts[:2] == ("twin", "cli")
        tree = ast.parse(path.read_text(encoding="utf-8"), str(rel))
        for node, module, at_top in _imports(tree):
            target = module.split(".")[0]
            if target not in FORBIDDEN[package]:
                continue
            if in_cli and not at_top:
                continue  # the CLI imports upward lazily, per command
            where = "at module level in the CLI" if in_cli else "upward"
            found.append(f"{rel}:{node.lineno}: imports {module} ({where})")
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_dependencies_point_one_way(package: str) -> None:
    assert _modules(package), f"no modules found under {package}/"
    assert _violations(package) == []


def test_no_module_imports_another_modules_private_names() -> None:
    """``from module import _name`` reaches into another module: make the name public first."""
    found = set()
    for package in FORBIDDEN:
        for path in _modules(package):
            rel = path.relative_to(REPO).as_posix()
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), rel)):
                if isinstance(node, ast.ImportFrom) and node.module:
                    for alias in node.names:
                        if alias.name.startswith("_") and not alias.name.startswith("__"):
                            found.add(f"{rel}: {node.module}.{alias.name}")
    assert found - PRIVATE_IMPORTS_KNOWN == set()


def test_the_check_sees_an_upward_import() -> None:
    """The scan finds lazy and TYPE_CHECKING imports, not only those at the top."""
    src = (
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from optimizer.aps import Plan\n"
        "def f():\n    import dashboard.figures\n"
    )
    found = [m for _, m, _ in _imports(ast.parse(src))]
    assert found == ["typing", "optimizer.aps", "dashboard.figures"]
