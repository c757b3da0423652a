"""What a policy may name and grant: every resource it names is an API path, and nobody grants
what they do not hold themselves (Policies and Roles check both before they store a policy or
attaches one to a role)."""

from __future__ import annotations

from collections.abc import Sequence

from domain.access.model import Principal
from domain.access.rbac.model import ALLOW, ANY_METHOD, PolicyDocument, key_match
from domain.errors import Forbidden, ValidationFailed
from ports.access import ApiCatalogue
from ports.services import Authorizer


def check_resources(document: PolicyDocument, catalogue: ApiCatalogue) -> None:
    """Every resource of every statement matches some API path of the catalogue."""
    known = catalogue.paths()
    for st in document.statements:
        for resource in st.resources:
            if not any(key_match(path, resource) for path, _ in known):
                raise ValidationFailed(
                    f"Json policy is invalid: resource {resource!r} matches no API path "
                    "(GET /v1/admin/api_paths_methods?all_paths=true lists them)",
                    reason="resource_not_in_api")


def check_grants(actor: Principal, documents: Sequence[PolicyDocument],
                 catalogue: ApiCatalogue, authorizer: Authorizer) -> None:
    """Nobody grants what they do not hold: every permission an Allow statement reaches
    must be allowed to the actor."""
    permissions = catalogue.permissions()
    for document in documents:
        for st in document.statements:
            if st.effect != ALLOW:
                continue
            for resource in st.resources:
                for perm in permissions:
                    if key_match(perm.resource, resource) \
                            and (ANY_METHOD in st.methods or perm.action in st.methods) \
                            and not authorizer.allowed(actor, perm):
                        raise Forbidden(
                            f"You cannot grant {perm.action} {perm.resource}: you do not "
                            "hold it yourself", reason="grant_exceeds_own")
