"""DESIGN.md §2's dependency rule, checked on the import statements of every module."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LAYERS = ("domain", "ports", "adapters", "graphql_api", "rest_compat", "fleetgate")
STDLIB_OK = {"__future__"}


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def top(name: str) -> str:
    return name.split(".")[0]


def _is_domain_service(path: Path) -> bool:
    return path.name != "model.py" and path.parent.name != "domain"


@pytest.mark.parametrize("path", modules("domain"), ids=str)
def test_domain_imports_only_stdlib_domain_and_ports(path: Path) -> None:
    import sys

    allowed = {"domain", "ports"} if _is_domain_service(path) else {"domain"}
    for name in imports_of(path):
        root = top(name)
        assert root in allowed or root in sys.stdlib_module_names or root in STDLIB_OK, \
            f"{path.relative_to(ROOT)} imports {name}"


@pytest.mark.parametrize("path", [p for p in modules("domain") if p.name == "model.py"], ids=str)
def test_domain_models_do_not_import_ports(path: Path) -> None:
    assert not any(top(n) == "ports" for n in imports_of(path))


@pytest.mark.parametrize("path", modules("ports"), ids=str)
def test_ports_import_only_domain_models(path: Path) -> None:
    import sys

    for name in imports_of(path):
        root = top(name)
        if root == "domain":
            assert name.endswith(".model"), f"{path.name} imports {name}"
        else:
            assert root in sys.stdlib_module_names or root in STDLIB_OK or root == "ports", name


@pytest.mark.parametrize("layer", ["adapters", "graphql_api", "rest_compat"])
def test_outer_layers_never_import_each_other_or_the_composition_root(layer: str) -> None:
    forbidden = {"adapters", "graphql_api", "rest_compat", "fleetgate"} - {layer}
    for path in modules(layer):
        bad = {n for n in imports_of(path) if top(n) in forbidden}
        assert not bad, f"{path.relative_to(ROOT)} imports {bad}"
