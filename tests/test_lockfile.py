"""requirements.lock is the install (`make run`, `make test`, CI): it must match pyproject.toml.

A dependency added to, raised in or removed from pyproject.toml (its dependencies and the
`dev` extra) without `make lock` fails here, instead of CI silently testing another tree.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

from packaging.markers import default_environment
from packaging.requirements import Requirement
from packaging.utils import NormalizedName, canonicalize_name

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"
LOCK = ROOT / "requirements.lock"
FIX = "requirements.lock is out of date with pyproject.toml: run `make lock` and commit it"

PIN = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)==(?P<version>\S+)")
HASH = re.compile(r"--hash=sha256:[0-9a-f]{64}")


@dataclass(frozen=True, slots=True, kw_only=True)
class Pin:
    version: str
    hashes: int
    via: str  # pip-compile's "# via" annotation: who asked for it


def locked() -> dict[NormalizedName, Pin]:
    """Every pin of requirements.lock with its hash count and its "via" annotation."""
    pins: dict[NormalizedName, Pin] = {}
    blocks = re.split(r"\n(?=[A-Za-z0-9])", LOCK.read_text())
    for block in blocks:
        match = PIN.match(block)
        if match is None:
            continue
        via = " ".join(line for line in block.splitlines() if line.lstrip().startswith("#"))
        pins[canonicalize_name(match["name"])] = Pin(
            version=match["version"], hashes=len(HASH.findall(block)), via=via
        )
    return pins


def declared() -> dict[NormalizedName, Requirement]:
    """The project's dependencies and its `dev` extra, as written in pyproject.toml."""
    project = tomllib.loads(PYPROJECT.read_text())["project"]
    lines = [*project["dependencies"], *project["optional-dependencies"]["dev"]]
    return {canonicalize_name(req.name): req for req in map(Requirement, lines)}


def build_requirements() -> dict[NormalizedName, Requirement]:
    build = tomllib.loads(PYPROJECT.read_text())["build-system"]
    return {canonicalize_name(req.name): req for req in map(Requirement, build["requires"])}


def test_every_dependency_in_pyproject_is_locked() -> None:
    missing = sorted(set(declared()) - set(locked()))
    assert not missing, f"{FIX}; not in the lock: {missing}"


def test_locked_versions_satisfy_what_pyproject_asks_for() -> None:
    pins = locked()
    wanted = {**declared(), **build_requirements()}
    stale = {
        name: f"{pins[name].version} (pyproject: {req})"
        for name, req in wanted.items()
        if name in pins and not req.specifier.contains(pins[name].version, prereleases=True)
    }
    assert not stale, f"{FIX}; locked versions outside pyproject's range: {stale}"


def test_amqtt_is_locked_at_the_exact_version_the_broker_patch_was_written_for() -> None:
    amqtt = declared()[canonicalize_name("amqtt")]
    assert str(amqtt.specifier).startswith("=="), "adapters/mqtt patches amqtt internals"
    pinned = locked()[canonicalize_name("amqtt")].version
    assert pinned == str(amqtt.specifier)[2:], f"{FIX}; amqtt {pinned} locked, pyproject: {amqtt}"


def test_lock_pins_no_dependency_pyproject_dropped() -> None:
    direct = {name for name, pin in locked().items() if "fleetgate (pyproject.toml)" in pin.via}
    dropped = sorted(direct - set(declared()))
    assert not dropped, f"{FIX}; locked as direct dependencies, gone from pyproject: {dropped}"


def test_build_backend_is_locked_for_the_editable_install() -> None:
    missing = sorted(set(build_requirements()) - set(locked()))
    assert not missing, f"{FIX}; build-system.requires not in the lock: {missing}"


def test_every_pin_is_exact_hashed_and_free_of_machine_specific_indexes() -> None:
    text = LOCK.read_text()
    requirement_lines = [
        line for line in text.splitlines() if line and not line.startswith((" ", "#"))
    ]
    unpinned = [line for line in requirement_lines if not PIN.match(line)]
    assert not unpinned, f"every line must be name==version (pip-compile output): {unpinned}"
    unhashed = sorted(name for name, pin in locked().items() if pin.hashes == 0)
    assert not unhashed, f"pins without a hash (pip would refuse --require-hashes): {unhashed}"
    for option in ("--index-url", "--extra-index-url", "--find-links", "file://"):
        assert option not in text, f"{option} in requirements.lock: an index of one machine"


def test_extras_pyproject_asks_for_are_locked_too() -> None:
    """`uvicorn[standard]`, `SQLAlchemy[asyncio]`: what those extras pull in is in the lock."""
    pins = locked()
    missing: dict[str, list[str]] = {}
    for name, req in declared().items():
        if name not in pins:
            continue  # reported by test_every_dependency_in_pyproject_is_locked
        for extra in sorted(req.extras):
            for line in metadata.requires(name) or ():
                dep = Requirement(line)
                environment = {**default_environment(), "extra": extra}
                if dep.marker is None or not dep.marker.evaluate(environment):
                    continue
                if "extra" not in str(dep.marker):
                    continue  # a plain dependency of the package, not of the extra
                if canonicalize_name(dep.name) not in pins:
                    missing.setdefault(f"{req.name}[{extra}]", []).append(dep.name)
    assert not missing, f"{FIX}; not in the lock: {missing}"
