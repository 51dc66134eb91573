"""A name with a leading underscore is its module's own: no other package of kleansync imports it.

Why: such a name may change or go without notice (``admin.status._run_view`` was used by the
console's Läufe page and would have broken it silently). Within one package (``connectors.kleanapp``
sharing ``wire``'s helpers) a private helper is fine; across packages it needs a public name.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("reconciler", "rules", "state")


def _package(module: str) -> str:
    """``reconciler.console.pages_work`` -> ``reconciler.console`` (``state.x`` -> ``state``)."""
    parts = module.split(".")
    return ".".join(parts[:2]) if parts[0] == "reconciler" else parts[0]


def test_no_package_imports_another_packages_private_names():
    crossings = []
    for top in PACKAGES:
        for path in sorted((ROOT / top).rglob("*.py")):
            module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                if not isinstance(node, ast.ImportFrom) or not node.module or node.level:
                    continue
                if node.module.split(".")[0] not in PACKAGES:
                    continue
                if _package(node.module) == _package(module):
                    continue
                for alias in node.names:
                    if alias.name.startswith("_") and alias.name not in ("_", "N_"):
                        crossings.append(f"{module} imports {node.module}.{alias.name}")
    assert not crossings, "private names used across packages:\n" + "\n".join(crossings)
