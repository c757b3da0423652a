"""The dependency rule and the area layout of docs/ARCHITECTURE.md, checked on the import
statements and the files of every module."""

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


# --- docs/ARCHITECTURE.md, "Areas": the shape of the core ------------------------------------

SHARED_KERNEL = {"errors", "identifiers", "jsonshape", "shadow", "hashing", "paging", "use_cases"}
"""domain/<name>.py modules outside every area: value helpers any area may use, and
domain/use_cases.py, which only assembles the areas' bundles."""


VALUE_CATALOGUES = {"domain.access.permissions"}
"""Modules of constants every area declares against, importable like a model: the named
permissions (values only; the test below keeps them so)."""


def areas() -> list[Path]:
    return sorted(p for p in (ROOT / "domain").iterdir()
                  if p.is_dir() and not p.name.startswith("__"))


def area_of(path: Path) -> str | None:
    rel = path.relative_to(ROOT / "domain").parts
    return rel[0] if len(rel) > 1 else None


def _defines_protocol(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef):
            for base in node.bases:
                name = base.attr if isinstance(base, ast.Attribute) else getattr(base, "id", "")
                if name == "Protocol":
                    found.append(node.name)
    return found


@pytest.mark.parametrize("path", modules("domain"), ids=str)
def test_the_core_defines_no_protocol_outside_ports(path: Path) -> None:
    """Every interface the core depends on is a port: ports/ holds all of them."""
    assert not _defines_protocol(path), \
        f"{path.relative_to(ROOT)} defines {_defines_protocol(path)}: move it to ports/"


@pytest.mark.parametrize("path", [p for p in modules("domain") if area_of(p)], ids=str)
def test_an_area_uses_another_area_only_through_its_model(path: Path) -> None:
    """What one area needs of another comes through a port or that area's model, never its
    use-case modules (so areas can be read, tested and changed one at a time)."""
    mine = area_of(path)
    for name in imports_of(path):
        parts = name.split(".")
        if parts[0] != "domain" or len(parts) < 3 or parts[1] == mine:
            continue
        assert parts[-1] == "model" or name in VALUE_CATALOGUES, \
            f"{path.relative_to(ROOT)} imports {name}"


def test_value_catalogues_hold_values_only() -> None:
    for name in VALUE_CATALOGUES:
        path = ROOT / (name.replace(".", "/") + ".py")
        assert not {n for n in imports_of(path) if top(n) in LAYERS}, name


@pytest.mark.parametrize("path", [p for p in modules("domain") if not area_of(p)
                                  and p.stem != "__init__"], ids=str)
def test_the_shared_kernel_is_small_and_depends_on_no_area(path: Path) -> None:
    assert path.stem in SHARED_KERNEL, f"{path.name}: put it in an area (or name it here)"
    if path.stem == "use_cases":
        return
    assert not any(n.startswith("domain.") and len(n.split(".")) > 2
                   for n in imports_of(path)), path.name


@pytest.mark.parametrize("area", [a for a in areas() if any(
    p.stem not in ("__init__", "model") for p in a.glob("*.py"))], ids=lambda a: a.name)
def test_every_area_has_a_model_and_a_bundle_of_its_own(area: Path) -> None:
    assert (area / "model.py").exists(), f"domain/{area.name}/model.py"
    bundle = area / "use_cases.py"
    assert bundle.exists(), f"domain/{area.name}/use_cases.py"
    for name in imports_of(bundle):
        if name.startswith("domain."):
            assert name.split(".")[1] == area.name or name.endswith(".model"), \
                f"domain/{area.name}/use_cases.py bundles {name}"


def test_ports_packages_re_export_nothing() -> None:
    """ports/repositories/<area>.py is where a repository port lives and is imported from."""
    for init in (ROOT / "ports").rglob("__init__.py"):
        tree = ast.parse(init.read_text())
        assert not [n for n in tree.body if isinstance(n, ast.Import | ast.ImportFrom)
                    and not (isinstance(n, ast.ImportFrom) and n.module == "__future__")], \
            f"{init.relative_to(ROOT)} re-exports"


# --- docs/ARCHITECTURE.md, "Size": hub files do not come back --------------------------------

MAX_LINES = 400


@pytest.mark.parametrize("layer", LAYERS)
def test_no_module_outgrows_the_limit(layer: str) -> None:
    big = {str(p.relative_to(ROOT)): n for p in modules(layer)
           if (n := len(p.read_text().splitlines())) > MAX_LINES}
    assert not big, f"over {MAX_LINES} lines, split along an area or a concern: {big}"


def test_the_device_runtime_is_type_checked_like_the_core() -> None:
    import tomllib

    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["mypy"]
    assert config["strict"] is True
    runtime = {f"fleetgate/{name}.py" for name in (
        "device_runtime", "ingest_pipeline", "ota_lane", "restart_presence", "broker_gate",
        "queues")}
    assert {"domain", "ports"} | runtime <= set(config["files"])


def test_the_architecture_guide_is_in_the_repository() -> None:
    guide = (ROOT / "docs" / "ARCHITECTURE.md").read_text()
    for heading in ("## Layers", "## Areas", "## A request", "## A device message",
                    "## Adding a product area"):
        assert heading in guide, heading
