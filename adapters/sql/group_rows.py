"""What the SQL repositories of user groups and admin groups share: a group table with a
member table beside it, both scoped by organization."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from sqlalchemy import Table, delete

from adapters.sql.kit import _Scoped


class GroupRows(_Scoped):
    """A repository over one group table (`groups`) and its member rows (`members`)."""

    groups: ClassVar[Table]
    members: ClassVar[Table]

    async def delete_many(self, group_ids: Sequence[str]) -> None:
        if group_ids:
            g, m = self.groups, self.members
            await self._exec(delete(m).where(m.c.group_id.in_(list(group_ids)),
                                             self._in_scope(m.c.org_id)))
            # the ids hold the whole subtree (children first is not needed); the parent
            # foreign key cascades anyway
            await self._exec(delete(g).where(g.c.id.in_(list(group_ids)),
                                             self._in_scope(g.c.org_id)))
