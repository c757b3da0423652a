"""Index-backed node paging: pages of an organization's nodes (and of a user's) walk an index
in id order, and a tag filter reads node_tags (one row per node and tag) instead of expanding
every node's JSON. node_tags is derived from nodes.tags by triggers, in the writing
transaction, so no code path can forget it; nodes.tags stays the source of truth.

PostgreSQL compares ids byte-wise (COLLATE "C", like Python's sorted()), so its indexes are
on id COLLATE "C"; SQLite's default BINARY collation already is byte-wise.

Revision ID: 0016
Revises: 0015
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

from adapters.sql.rls import enable_tenant_rls

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None

_PG_SYNC = """
CREATE FUNCTION nodes_sync_tags() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP <> 'INSERT' THEN
        DELETE FROM node_tags WHERE node_id = OLD.id;
    END IF;
    IF TG_OP = 'DELETE' THEN
        RETURN OLD;
    END IF;
    INSERT INTO node_tags (node_id, org_id, tag)
        SELECT DISTINCT NEW.id, NEW.org_id, t FROM json_array_elements_text(NEW.tags) AS t
        ON CONFLICT DO NOTHING;
    RETURN NEW;
END $$
"""
_PG_TRIGGERS = (
    "CREATE TRIGGER nodes_tags_insert AFTER INSERT ON nodes "
    "FOR EACH ROW EXECUTE FUNCTION nodes_sync_tags()",
    # json has no equality operator: compare the stored text
    "CREATE TRIGGER nodes_tags_update AFTER UPDATE OF tags ON nodes FOR EACH ROW "
    "WHEN (OLD.tags::text IS DISTINCT FROM NEW.tags::text) "
    "EXECUTE FUNCTION nodes_sync_tags()",
    "CREATE TRIGGER nodes_tags_delete AFTER DELETE ON nodes "
    "FOR EACH ROW EXECUTE FUNCTION nodes_sync_tags()",
)
_SQLITE_INSERT_TAGS = ("INSERT OR IGNORE INTO node_tags (node_id, org_id, tag) "
                       "SELECT NEW.id, NEW.org_id, value FROM json_each(NEW.tags);")
_SQLITE_TRIGGERS = (
    f"CREATE TRIGGER nodes_tags_insert AFTER INSERT ON nodes BEGIN {_SQLITE_INSERT_TAGS} END",
    "CREATE TRIGGER nodes_tags_update AFTER UPDATE OF tags ON nodes "
    "WHEN OLD.tags IS NOT NEW.tags BEGIN "
    f"DELETE FROM node_tags WHERE node_id = OLD.id; {_SQLITE_INSERT_TAGS} END",
    "CREATE TRIGGER nodes_tags_delete AFTER DELETE ON nodes BEGIN "
    "DELETE FROM node_tags WHERE node_id = OLD.id; END",
)
_TRIGGERS = ("nodes_tags_insert", "nodes_tags_update", "nodes_tags_delete")


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.create_index("ix_nodes_org_page", "nodes",
                    ["org_id", sa.text('id COLLATE "C"') if postgres else "id"])
    # org_id too: counting a user's nodes (scoped, and under RLS) reads only the index
    op.create_index("ix_node_memberships_user_node", "node_memberships",
                    ["user_id", sa.text('node_id COLLATE "C"') if postgres else "node_id",
                     "org_id"])
    op.create_table(
        "node_tags",
        sa.Column("node_id", sa.String(64), nullable=False),
        sa.Column("tag", sa.String(256), nullable=False),
        sa.Column("org_id", sa.String(36), nullable=False),
        sa.PrimaryKeyConstraint("node_id", "tag"),
    )
    op.create_index("ix_node_tags_org_tag", "node_tags", ["org_id", "tag", "node_id"])
    enable_tenant_rls(op, ["node_tags"])
    if postgres:
        op.execute(_PG_SYNC)
        for statement in _PG_TRIGGERS:
            op.execute(statement)
        op.execute("INSERT INTO node_tags (node_id, org_id, tag) SELECT DISTINCT n.id, "
                   "n.org_id, t FROM nodes n, json_array_elements_text(n.tags) AS t")
    else:
        for statement in _SQLITE_TRIGGERS:
            op.execute(statement)
        op.execute("INSERT OR IGNORE INTO node_tags (node_id, org_id, tag) "
                   "SELECT n.id, n.org_id, t.value FROM nodes n, json_each(n.tags) t")


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for name in _TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + (" ON nodes" if postgres else ""))
    if postgres:
        op.execute("DROP FUNCTION IF EXISTS nodes_sync_tags()")
    op.drop_table("node_tags")
    op.drop_index("ix_node_memberships_user_node", table_name="node_memberships")
    op.drop_index("ix_nodes_org_page", table_name="nodes")
