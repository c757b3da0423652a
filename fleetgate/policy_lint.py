"""`fleetgate policy check`'s linter: what is wrong (errors) or suspicious (warnings) in a
RainMaker policy_json, checked against the API catalogue the gateway serves."""

from __future__ import annotations

from dataclasses import dataclass

from domain.access.rbac.model import ALLOW, ANY_METHOD, DENY, key_match
from domain.access.rbac.validation import parse_policy
from domain.errors import ValidationFailed
from fleetgate.catalogue import ApiCatalogue

ERROR, WARNING = "error", "warning"


@dataclass(frozen=True, slots=True)
class Finding:
    level: str  # ERROR | WARNING
    message: str

    def __str__(self) -> str:
        return f"{self.level}: {self.message}"


def _covers(pattern: str, resource: str) -> bool:
    """Whether every path `resource` (itself possibly ending in "*") names is matched by
    `pattern`: the same pattern, or a wildcard prefix of it."""
    if pattern == resource:
        return True
    return pattern.endswith("*") and resource.startswith(pattern[:-1])


def _broad(resource: str) -> bool:
    """"/*", "/v1/*" or a whole API area such as "/v1/admin/*"."""
    if not resource.endswith("*"):
        return False
    parts = [p for p in resource[:-1].split("/") if p]
    return len(parts) <= 2


def lint_policy(raw: object, catalogue: ApiCatalogue) -> list[Finding]:
    """Errors: the document does not parse (schema, size, unknown action or effect) or a
    resource matches no API path. Warnings: an Allow fully shadowed by a Deny of the same
    document; an Allow of "/*" or of a whole API area ("/v1/admin/*")."""
    try:
        document = parse_policy(raw)
    except ValidationFailed as exc:
        return [Finding(ERROR, f"{exc.message} ({exc.reason})")]
    findings: list[Finding] = []
    paths = [path for path, _ in catalogue.paths()]
    seen: set[str] = set()
    for st in document.statements:
        for resource in st.resources:
            if resource not in seen and not any(key_match(p, resource) for p in paths):
                findings.append(Finding(ERROR, f"resource {resource!r} matches no API path "
                                               "(fleetgate serves none there)"))
            seen.add(resource)
    denies = [(r, m) for st in document.statements if st.effect == DENY
              for r in st.resources for m in st.methods]
    for st in document.statements:
        if st.effect != ALLOW:
            continue
        for resource in st.resources:
            for method in st.methods:
                shadow = next(((r, m) for r, m in denies if _covers(r, resource)
                               and m in (method, ANY_METHOD)), None)
                if shadow is not None:
                    findings.append(Finding(
                        WARNING, f"Allow {method} {resource} is shadowed by Deny "
                                 f"{shadow[1]} {shadow[0]}: it never grants anything"))
            if _broad(resource):
                methods = ", ".join(st.methods)
                findings.append(Finding(
                    WARNING, f"Allow {methods} on {resource!r} is a wildcard grant of a whole "
                             "API area; name the paths, or add Deny statements for what the "
                             "role must not reach"))
    return findings
