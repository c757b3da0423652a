"""Authorizer over Casbin, with rules loaded from a PolicyStore (the database).

Decisions are a pure function of (subjects, org, resource, action) and the loaded rules,
so they are cached until the rules are reloaded.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Protocol

import casbin

from domain.access.model import Permission, Principal
from domain.errors import Forbidden

RuleRow = Sequence[str]


class PolicyStore(Protocol):
    """Where the rules live: rows of (ptype, v0..v5)."""

    async def load_rules(self) -> list[RuleRow]: ...


def _has_role(request_subjects: str, policy_subject: str) -> bool:
    return policy_subject in request_subjects.split(",")


def new_enforcer(model_path: Path, rules: Iterable[RuleRow]) -> casbin.Enforcer:
    enforcer = casbin.Enforcer(str(model_path))
    enforcer.add_function("hasRole", _has_role)
    for row in rules:
        ptype, values = row[0], [v for v in row[1:] if v != ""]
        if ptype == "p":
            enforcer.add_named_policy("p", values)
    return enforcer


class CasbinAuthorizer:
    def __init__(self, model_path: Path, store: PolicyStore, *, cache_size: int = 50_000) -> None:
        self._model_path, self._store = model_path, store
        self._enforcer = new_enforcer(model_path, [])
        self._cache: dict[tuple[str, str, str, str], bool] = {}
        self._cache_size = cache_size

    async def reload(self) -> None:
        self._enforcer = new_enforcer(self._model_path, await self._store.load_rules())
        self._cache.clear()

    def allowed(self, principal: Principal, permission: Permission) -> bool:
        subjects = ",".join(sorted(principal.roles) + [principal.subject])
        key = (subjects, principal.org_id, permission.resource, permission.action)
        decision = self._cache.get(key)
        if decision is None:
            decision = bool(self._enforcer.enforce(*key))
            if len(self._cache) >= self._cache_size:
                self._cache.clear()
            self._cache[key] = decision
        return decision

    async def authorize(self, principal: Principal, permission: Permission) -> None:
        if not self.allowed(principal, permission):
            raise Forbidden("You are not authorized to perform this operation",
                            reason="forbidden")
