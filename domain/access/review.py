"""Use cases that let policy authors review access: the audit trail of changes, the API paths
policies can name, and explaining one decision (which rules allowed or refused it)."""

from __future__ import annotations

from domain.access.assignments import find_user
from domain.access.model import Caller, Permission, Principal, PrincipalKind, requires
from domain.access.permissions import API_PATHS, AUDIT_LOGS, POLICIES
from domain.access.rbac.model import AuditPage, Explanation, decision_reason
from domain.errors import NotFound, ValidationFailed
from ports.access import ApiCatalogue
from ports.repositories.uow import UnitOfWorkFactory
from ports.services import Authorizer

AUDIT_PAGE_MAX = 100


class AccessReview:
    """Reading the audit trail, the API catalogue and the Authorizer's decisions."""

    def __init__(self, *, uow: UnitOfWorkFactory, authorizer: Authorizer,
                 catalogue: ApiCatalogue) -> None:
        self.uow, self.authorizer, self.catalogue = uow, authorizer, catalogue

    @requires(AUDIT_LOGS, "GET")
    async def audit_log(self, caller: Caller, *, after: str | None = None,
                        limit: int = 25) -> AuditPage:
        principal = caller.require_principal()
        limit = max(1, min(limit, AUDIT_PAGE_MAX))
        async with self.uow(principal.org_id) as uow:
            entries = list(await uow.access.audit(after=after, limit=limit + 1))
        more = len(entries) > limit
        return AuditPage(entries[:limit], entries[limit - 1].id if more else None)

    @requires(API_PATHS, "GET")
    async def api_paths(self, caller: Caller, *, all_paths: bool = False
                        ) -> list[tuple[str, list[str]]]:
        caller.require_principal()
        return [(path, sorted(methods)) for path, methods in self.catalogue.paths()
                if all_paths or path.startswith("/v1/admin/")]

    @requires(POLICIES, "GET")
    async def explain(self, caller: Caller, *, user_name: object = None, user_id: object = None,
                      resource: object, action: object, node_id: object = None
                      ) -> Explanation:
        """Whether a user of the caller's organization may use (resource, action), the rules
        that decided it, and (with node_id) whether that node is within the user's reach."""
        principal = caller.require_principal()
        if not isinstance(resource, str) or not resource.startswith("/"):
            raise ValidationFailed("resource is a REST path such as /v1/admin/nodes",
                                   reason="invalid_resource")
        if not isinstance(action, str) or not action.strip():
            raise ValidationFailed("action is an HTTP method such as GET",
                                   reason="invalid_action")
        method = action.strip().upper().removeprefix("API:")
        async with self.uow(principal.org_id) as uow:
            user = await find_user(uow, user_name=user_name, user_id=user_id)
            node = await uow.nodes.get(str(node_id)) if node_id not in (None, "") else None
            if node_id not in (None, "") and node is None:
                raise NotFound("Node does not exist", reason="node_not_found")
        subject = Principal(kind=PrincipalKind.USER, org_id=user.org_id, user_id=user.id,
                            user_name=user.user_name, roles=frozenset(user.roles))
        permission = Permission(resource, method)
        matched, deciding, allowed = self.authorizer.explain(subject, permission)
        reach = self.authorizer.node_reach(subject, permission) if allowed else ()
        in_reach = None
        if node is not None:
            in_reach = reach is None or any(r.matches(node.tags, node.type) for r in reach)
        ok = allowed and in_reach is not False
        return Explanation(allowed=ok, user_id=user.id, user_name=user.user_name,
                           roles=tuple(sorted(user.roles)), matched=tuple(matched),
                           deciding=tuple(deciding), node_reach=reach, node_in_reach=in_reach,
                           reason=decision_reason(deciding, allowed=allowed, in_reach=ok))
