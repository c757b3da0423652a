"""Single-use OTA upload links: ota_images gets a revision, bumped by every write of the row,
so a write that read the row before a concurrent one committed matches nothing and is refused
(two PUTs racing on one upload link: exactly one wins; an upload racing a confirm or a new
upload request: one of them is refused).

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("ota_images") as batch:
        batch.add_column(sa.Column("revision", sa.Integer(), nullable=False,
                                   server_default="0"))


def downgrade() -> None:
    with op.batch_alter_table("ota_images") as batch:
        batch.drop_column("revision")
