"""Permissions are named: a use case requires a constant of domain/access/permissions.py, never
a REST path literal, and the constants are exactly the resources the use cases declare."""

from __future__ import annotations

import ast
import importlib
import inspect
import pkgutil
from pathlib import Path

import domain
from domain.access import permissions
from domain.access.model import Permission, declared_access

ROOT = Path(__file__).resolve().parent.parent
PERMISSIONS_MODULE = "domain.access.permissions"


def _domain_modules() -> list[Path]:
    return sorted(p for p in (ROOT / "domain").rglob("*.py")
                  if p != ROOT / "domain" / "access" / "permissions.py")


def _unnamed_resources(path: Path) -> list[str]:
    """`requires(...)` calls whose resource is not a name imported from the permissions."""
    tree = ast.parse(path.read_text(), filename=str(path))
    named = {alias.asname or alias.name for node in ast.walk(tree)
             if isinstance(node, ast.ImportFrom) and node.module == PERMISSIONS_MODULE
             for alias in node.names}
    modules = {alias.asname or alias.name for node in ast.walk(tree)
               if isinstance(node, ast.ImportFrom) and node.module == "domain.access"
               for alias in node.names if alias.name == "permissions"}
    out = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and node.args and (
                (isinstance(node.func, ast.Name) and node.func.id == "requires")
                or (isinstance(node.func, ast.Attribute) and node.func.attr == "requires"))):
            continue
        resource = node.args[0]
        if isinstance(resource, ast.Name) and resource.id in named:
            continue
        if isinstance(resource, ast.Attribute) and isinstance(resource.value, ast.Name) \
                and resource.value.id in modules:
            continue
        out.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(resource)}")
    return out


def test_use_cases_require_named_permissions_not_path_literals() -> None:
    offenders = [hit for path in _domain_modules() for hit in _unnamed_resources(path)]
    assert not offenders, "requires() takes a constant of domain/access/permissions.py:\n" \
        + "\n".join(offenders)


def _declared_permissions() -> set[Permission]:
    found: set[Permission] = set()
    for info in pkgutil.walk_packages(domain.__path__, "domain."):
        module = importlib.import_module(info.name)
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__ != module.__name__:
                continue
            for _, fn in inspect.getmembers(cls, inspect.isfunction):
                access = declared_access(fn)
                if isinstance(access, Permission):
                    found.add(access)
    return found


def test_every_declared_resource_has_a_named_constant() -> None:
    named = set(permissions.resources().values())
    unnamed = {p.resource for p in _declared_permissions()} - named
    assert not unnamed, f"add these to domain/access/permissions.py: {sorted(unnamed)}"


def test_every_named_constant_is_declared_by_a_use_case() -> None:
    declared = {p.resource for p in _declared_permissions()}
    unused = {name for name, value in permissions.resources().items() if value not in declared}
    assert not unused, f"constants no use case requires: {sorted(unused)}"


def test_each_constant_names_one_rest_path() -> None:
    values = list(permissions.resources().values())
    assert len(values) == len(set(values))
    assert all(v.startswith(("/v1/", "/api/v1/")) for v in values)
