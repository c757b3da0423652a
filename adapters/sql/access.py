"""Policies, roles, compiled rules and the audit trail of one organization (AccessRepository).

Compiled rules are rows of casbin_rule with v1 = the organization; the built-in roles' rules
(v1 = "*") are seeded from policies/builtin.csv and never touched here. On PostgreSQL a
change also sends NOTIFY on the policy channel inside the transaction, so every replica's
watcher hears of it exactly when it commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, insert, select, text, update

from adapters.sql.kit import _Scoped, aware
from adapters.sql.tables.access import access_policies, access_roles, audit_log, casbin_rule
from adapters.sql.tables.accounts import user_roles, users
from domain.access.rbac.model import AuditEntry, Policy, Role, Rule
from domain.access.rbac.validation import parse_policy

POLICY_CHANNEL = "fleetgate_policy"


def policy_from_row(row: Any) -> Policy:
    return Policy(org_id=row.org_id, name=row.name, document=parse_policy(row.document),
                  created_at=aware(row.created_at),  # type: ignore[arg-type]
                  updated_at=aware(row.updated_at))  # type: ignore[arg-type]


class SqlAccessRepository(_Scoped):
    async def lock(self) -> None:
        """Serializes the organization's access changes (PostgreSQL: a transaction-scoped
        advisory lock; SQLite has one writer at a time anyway)."""
        conn = await self._tx.connection()
        if conn.dialect.name == "postgresql":
            await conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
                               {"key": f"access:{self._org}"})

    async def get_policy(self, name: str) -> Policy | None:
        row = (await self._exec(select(access_policies).where(
            access_policies.c.name == name,
            self._in_scope(access_policies.c.org_id)))).first()
        return policy_from_row(row) if row else None

    async def list_policies(self) -> Sequence[Policy]:
        rows = (await self._exec(select(access_policies).where(
            self._in_scope(access_policies.c.org_id)).order_by(access_policies.c.name))).all()
        return [policy_from_row(r) for r in rows]

    async def add_policy(self, policy: Policy) -> None:
        await self._exec(insert(access_policies).values(
            org_id=policy.org_id, name=policy.name, document=dict(policy.document.raw),
            created_at=policy.created_at, updated_at=policy.updated_at))

    async def save_policy(self, policy: Policy) -> None:
        await self._exec(update(access_policies).where(
            access_policies.c.name == policy.name,
            self._in_scope(access_policies.c.org_id)).values(
            document=dict(policy.document.raw), updated_at=policy.updated_at))

    async def delete_policy(self, name: str) -> None:
        await self._exec(delete(access_policies).where(
            access_policies.c.name == name, self._in_scope(access_policies.c.org_id)))

    @staticmethod
    def _role(row: Any) -> Role:
        return Role(org_id=row.org_id, name=row.name, level=row.level,
                    policies=list(row.policies or []),
                    created_at=aware(row.created_at),  # type: ignore[arg-type]
                    updated_at=aware(row.updated_at))  # type: ignore[arg-type]

    async def get_role(self, name: str) -> Role | None:
        row = (await self._exec(select(access_roles).where(
            access_roles.c.name == name, self._in_scope(access_roles.c.org_id)))).first()
        return self._role(row) if row else None

    async def list_roles(self) -> Sequence[Role]:
        rows = (await self._exec(select(access_roles).where(
            self._in_scope(access_roles.c.org_id)).order_by(access_roles.c.level,
                                                             access_roles.c.name))).all()
        return [self._role(r) for r in rows]

    async def add_role(self, role: Role) -> None:
        await self._exec(insert(access_roles).values(
            org_id=role.org_id, name=role.name, level=role.level, policies=role.policies,
            created_at=role.created_at, updated_at=role.updated_at))

    async def save_role(self, role: Role) -> None:
        await self._exec(update(access_roles).where(
            access_roles.c.name == role.name, self._in_scope(access_roles.c.org_id)).values(
            level=role.level, policies=role.policies, updated_at=role.updated_at))

    async def delete_role(self, name: str) -> None:
        await self._exec(delete(access_roles).where(
            access_roles.c.name == name, self._in_scope(access_roles.c.org_id)))

    async def holders(self, role_name: str) -> Sequence[tuple[str, str]]:
        rows = (await self._exec(
            select(users.c.id, users.c.user_name)
            .select_from(user_roles.join(users, users.c.id == user_roles.c.user_id))
            .where(user_roles.c.role == role_name, self._in_scope(user_roles.c.org_id))
            .order_by(users.c.user_name))).all()
        return [(r.id, r.user_name) for r in rows]

    async def replace_rules(self, rules: Sequence[Rule]) -> None:
        await self._exec(delete(casbin_rule).where(casbin_rule.c.v1 == self._org))
        if rules:
            columns = ("ptype", "v0", "v1", "v2", "v3", "v4", "v5")
            await self._exec(insert(casbin_rule), [
                dict(zip(columns, r.row(), strict=True)) for r in rules])
        conn = await self._tx.connection()
        if conn.dialect.name == "postgresql":
            await conn.execute(text("SELECT pg_notify(:channel, :org)"),
                               {"channel": POLICY_CHANNEL, "org": self._org})

    async def add_audit(self, entry: AuditEntry) -> None:
        seq = (await self._exec(select(func.coalesce(func.max(audit_log.c.seq), 0) + 1).where(
            audit_log.c.org_id == entry.org_id))).scalar_one()
        await self._exec(insert(audit_log).values(
            id=entry.id, org_id=entry.org_id, seq=seq, at=entry.at, actor=entry.actor,
            actor_name=entry.actor_name, action=entry.action, target=entry.target,
            before=entry.before, after=entry.after))

    async def audit(self, *, after: str | None, limit: int) -> Sequence[AuditEntry]:
        q = select(audit_log).where(self._in_scope(audit_log.c.org_id))
        if after is not None:
            anchor = select(audit_log.c.seq).where(
                audit_log.c.id == after, self._in_scope(audit_log.c.org_id)).scalar_subquery()
            q = q.where(audit_log.c.seq < anchor)
        rows = (await self._exec(q.order_by(audit_log.c.seq.desc()).limit(limit))).all()
        return [AuditEntry(id=r.id, org_id=r.org_id, at=aware(r.at),  # type: ignore[arg-type]
                           actor=r.actor, actor_name=r.actor_name, action=r.action,
                           target=r.target, before=r.before, after=r.after) for r in rows]
